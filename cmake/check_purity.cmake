# Fails when a file under DIR includes Asio, Beast, SQLite or OpenSSL headers: state/machine is
# the pure core (events in, decisions out) and must not touch the network, the disk or a clock.
file(GLOB_RECURSE files "${DIR}/*.hpp" "${DIR}/*.cpp")
set(bad "")
foreach(f IN LISTS files)
  file(STRINGS "${f}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"](boost/(asio|beast)|sqlite3|openssl)")
  foreach(l IN LISTS lines)
    string(APPEND bad "\n  ${f}: ${l}")
  endforeach()
endforeach()
if(bad)
  message(FATAL_ERROR "state/machine must stay pure, but includes I/O libraries:${bad}")
endif()
