# Install rules and the CPack Debian package (`cd build/release && cpack -G DEB` gives
# cashierd_<version>_amd64.deb). Only the three binaries, the systemd unit, the default config
# (a conffile), the cashierctl bash completion and the docs are installed; libraries, headers and
# tests are not. The files themselves live in packaging/ (unit, config, maintainer scripts).
# /etc and /lib/systemd are absolute destinations: they are Debian's fixed places, whatever the
# prefix of the binaries (CPACK_PACKAGING_INSTALL_PREFIX, /usr).
set(cashier_pkg_dir ${PROJECT_SOURCE_DIR}/packaging)

install(TARGETS cashierd cashierctl aplus-sim RUNTIME DESTINATION bin)
install(FILES ${cashier_pkg_dir}/cashierd.json DESTINATION /etc/cashierd)
install(FILES ${cashier_pkg_dir}/cashierd.service DESTINATION /lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/tools/cashierctl/cashierctl.bash-completion
        DESTINATION share/bash-completion/completions RENAME cashierctl)
# Every protocol document, including those added later (operations.md, merchant-api.yaml).
file(GLOB cashier_docs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/proto-docs/*.md
     ${PROJECT_SOURCE_DIR}/proto-docs/*.yaml)
# Debian wants the changelog compressed with gzip -9n (no name, no timestamp).
execute_process(COMMAND gzip -9nc ${cashier_pkg_dir}/changelog
                OUTPUT_FILE ${PROJECT_BINARY_DIR}/changelog.gz COMMAND_ERROR_IS_FATAL ANY)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${cashier_pkg_dir}/changelog)
install(FILES ${cashier_docs} ${PROJECT_SOURCE_DIR}/README.md ${cashier_pkg_dir}/copyright
        ${PROJECT_BINARY_DIR}/changelog.gz DESTINATION share/doc/cashierd)

set(CASHIER_PACKAGE_MAINTAINER "cashierd maintainers <maintainers@users.noreply.r-seed-e1310d25.example>"
    CACHE STRING "Maintainer field of the Debian package")
set(CPACK_PACKAGE_NAME cashierd)
set(CPACK_PACKAGE_VENDOR "cashierd maintainers")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Alipay+ Cashier Payment orchestrator for an Acquiring Service Provider")
set(CPACK_PACKAGE_DESCRIPTION
    "cashierd takes Alipay+ Cashier Payments for an Acquiring Service Provider.
Merchants create payments through its HTTP API; it calls Alipay+, receives
signed notifyPayment webhooks, drives every payment to exactly one final state
(SUCCESS, FAIL or CANCELLED), keeps everything in SQLite and tells the merchant
by signed webhook. Also ships cashierctl (operator CLI) and aplus-sim (an
Alipay+ simulator for development and tests).")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${CASHIER_PACKAGE_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies come from dpkg-shlibdeps on the installed binaries (libssl3,
# libsqlite3-0, libboost-json1.81.0, ...); adduser is for the postinst. Not in sanitizer builds,
# packaged only by the package test: there dpkg-shlibdeps parses millions of relocations and
# took 36 s of CPU (cpack 90 s instead of 18 s on a loaded machine).
if(NOT CASHIER_SANITIZE)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
endif()
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "openssl")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "sqlite3")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${cashier_pkg_dir}/conffiles ${cashier_pkg_dir}/postinst ${cashier_pkg_dir}/prerm
    ${cashier_pkg_dir}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
# xz for the packages of optimized builds (what Debian's archive uses); zstd (dpkg >= 1.21.18,
# Debian 12) for Debug and sanitizer builds, packaged only by the package test: xz costs
# 4x the CPU there (measured: cpack 58 s with xz, 17 s with zstd, for the Debug binaries).
if(CMAKE_BUILD_TYPE MATCHES "^(Release|RelWithDebInfo|MinSizeRel)$")
  set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
else()
  set(CPACK_DEBIAN_COMPRESSION_TYPE zstd)
endif()
include(CPack)
