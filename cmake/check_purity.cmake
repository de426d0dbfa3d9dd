# Fails when a file under DIR includes a header matching FORBIDDEN (a regex on what follows
# `#include <` or `#include "`), naming LAYER and RULE in the message. The layer rules that hold
# by design are enforced here at every build, not left to discipline:
#   state/machine        the pure core: no Asio, Beast, SQLite or OpenSSL (the defaults)
#   state/store          never includes orchestrator/ (the store knows nothing above it)
#   orchestrator/engine  never includes the network or the daemon (orchestrator/net, /daemon,
#                        Asio, Beast): the scheduler and the engine are I/O-free
if(NOT DEFINED FORBIDDEN)
  set(FORBIDDEN "boost/(asio|beast)|sqlite3|openssl")
endif()
if(NOT DEFINED LAYER)
  set(LAYER "state/machine")
endif()
if(NOT DEFINED RULE)
  set(RULE "must stay pure, but includes I/O libraries")
endif()
file(GLOB_RECURSE files "${DIR}/*.hpp" "${DIR}/*.cpp")
set(bad "")
foreach(f IN LISTS files)
  file(STRINGS "${f}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"](${FORBIDDEN})")
  foreach(l IN LISTS lines)
    string(APPEND bad "\n  ${f}: ${l}")
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "${LAYER} ${RULE}:${bad}")
endif()
