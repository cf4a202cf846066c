# quarantine and message log: src/store/mailstore.c (mamorid's side: log
# writer thread, durable quarantine), src/store/quarantine.c (files, rows,
# release over SMTP with libcurl, retention), and `mamori quarantine`
# (src/cli/cmd_quarantine.c, compiled into mamori by the glob of 90-cli.cmake)
if(TARGET mamori_store AND EXISTS ${CMAKE_SOURCE_DIR}/src/store/mailstore.c
   AND EXISTS ${CMAKE_SOURCE_DIR}/src/store/quarantine.c)
  if(NOT TARGET PkgConfig::CURL)
    pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
  endif()
  add_library(mamori_mailstore STATIC src/store/mailstore.c src/store/quarantine.c)
  target_link_libraries(mamori_mailstore mamori_store mamori_core PkgConfig::SQLITE3 PkgConfig::CURL
    PkgConfig::OPENSSL Threads::Threads)
  if(TARGET mamori_report)
    target_link_libraries(mamori_mailstore mamori_report)
  endif()

  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_mailstore.c)
    mamori_unit_test(test_mailstore SOURCES tests/unit/test_mailstore.c LIBS mamori_mailstore)
    # the test watches the order of fsync and rename calls made by
    # quarantine.c (not SQLite's own) and injects their failures
    target_link_options(test_mailstore PRIVATE -Wl,--wrap=fsync -Wl,--wrap=renameat2)
    set_tests_properties(test_mailstore PROPERTIES TIMEOUT 120)
  endif()

  # test helper: puts messages into the quarantine through mailstore.h, as
  # mamorid does (tests/integration/quarantine_cli.sh)
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/integration/quarantine/quarantine_tool.c)
    add_executable(quarantine_tool tests/integration/quarantine/quarantine_tool.c)
    target_link_libraries(quarantine_tool mamori_mailstore)
  endif()
endif()

# mamori is declared later (90-cli.cmake): link at the end of configuration
function(mamori_quarantine_link_cli)
  if(TARGET mamori AND TARGET mamori_mailstore AND EXISTS ${CMAKE_SOURCE_DIR}/src/cli/cmd_quarantine.c)
    target_link_libraries(mamori mamori_mailstore mamori_store mamori_core PkgConfig::CURL PkgConfig::JANSSON)
    if(TARGET quarantine_tool AND EXISTS ${CMAKE_SOURCE_DIR}/tests/integration/quarantine_cli.sh
       AND NOT MAMORI_FUZZ)
      add_test(NAME quarantine_cli
        COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/quarantine_cli.sh $<TARGET_FILE:mamori>
          $<TARGET_FILE:quarantine_tool> ${CMAKE_SOURCE_DIR}/tests/integration/quarantine)
      set_tests_properties(quarantine_cli PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 180)
    endif()
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL mamori_quarantine_link_cli)

# terminal-safe output of text from mail (src/core/termsafe.c, in mamori_core)
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_termsafe.c AND EXISTS ${CMAKE_SOURCE_DIR}/src/core/termsafe.c)
  mamori_fuzz_target(fuzz_termsafe tests/fuzz/fuzz_termsafe.c mamori_core)
endif()
