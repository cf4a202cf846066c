# store: the SQLite backend of src/store/store.h (reports, rollups, raw
# originals, abuse log, cache); geoip (src/core/geoip.c, compiled into
# mamori_core by its glob) needs libmaxminddb; `mamori dmarc` (cmd_dmarc.c)
if(NOT TARGET PkgConfig::SQLITE3)
  pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
endif()
if(NOT TARGET PkgConfig::ZLIB)
  pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
endif()
if(NOT TARGET PkgConfig::MAXMINDDB)
  pkg_check_modules(MAXMINDDB REQUIRED IMPORTED_TARGET libmaxminddb)
endif()
if(NOT TARGET PkgConfig::CURL)
  pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
endif()

if(EXISTS ${CMAKE_SOURCE_DIR}/src/core/geoip.c)
  target_link_libraries(mamori_core PkgConfig::MAXMINDDB)
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_geoip.c)
    mamori_unit_test(test_geoip SOURCES tests/unit/test_geoip.c LIBS mamori_core)
  endif()
endif()

if(EXISTS ${CMAKE_SOURCE_DIR}/src/store/store_sqlite.c)
  add_library(mamori_store STATIC src/store/store.c src/store/store_sqlite.c)
  target_link_libraries(mamori_store mamori_core PkgConfig::SQLITE3 PkgConfig::ZLIB PkgConfig::OPENSSL)

  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_store.c)
    mamori_unit_test(test_store SOURCES tests/unit/test_store.c LIBS mamori_store mamori_report)
  endif()
endif()

# `mamori dmarc`: the executable is declared later (90-cli.cmake), so the
# extra libraries are linked at the end of configuration, once every part
# has declared its targets.
function(mamori_store_link_cli)
  if(TARGET mamori AND TARGET mamori_store AND TARGET mamori_report AND TARGET mamori_reportin
     AND EXISTS ${CMAKE_SOURCE_DIR}/src/cli/cmd_dmarc.c)
    target_link_libraries(mamori mamori_store mamori_reportin mamori_report mamori_spf mamori_dns
      mamori_core PkgConfig::CURL PkgConfig::JANSSON)
    if(EXISTS ${CMAKE_SOURCE_DIR}/tests/integration/dmarc_import.sh AND NOT MAMORI_FUZZ)
      add_test(NAME dmarc_import
        COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/dmarc_import.sh $<TARGET_FILE:mamori>
          ${MAMORI_CORPUS} ${MAMORI_TESTDATA})
      set_tests_properties(dmarc_import PROPERTIES LABELS integration TIMEOUT 600 SKIP_RETURN_CODE 77)
    endif()
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL mamori_store_link_cli)
