# abuse: RDAP look-up of abuse contacts (src/dmarc/rdap.c), ARF report
# composition (arf_build.c), and the `mamori dmarc abuse` pass (abuse.c,
# src/cli/cmd_dmarc_abuse.c) that reads the store and sends over SMTP
if(NOT TARGET PkgConfig::CURL)
  pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
endif()

if(EXISTS ${CMAKE_SOURCE_DIR}/src/dmarc/rdap.c AND EXISTS ${CMAKE_SOURCE_DIR}/src/dmarc/arf_build.c)
  # the parts that need no store: RDAP client and parser, ARF composer
  add_library(mamori_rdap STATIC src/dmarc/rdap.c src/dmarc/arf_build.c)
  target_link_libraries(mamori_rdap mamori_core PkgConfig::CURL PkgConfig::JANSSON)

  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_rdap.c)
    mamori_unit_test(test_rdap SOURCES tests/unit/test_rdap.c LIBS mamori_rdap)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_arf_build.c)
    mamori_unit_test(test_arf_build SOURCES tests/unit/test_arf_build.c LIBS mamori_rdap)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_rdap.c)
    mamori_fuzz_target(fuzz_rdap tests/fuzz/fuzz_rdap.c mamori_rdap)
  endif()

  # the pass itself needs the store (62-store.cmake) and SPF
  if(EXISTS ${CMAKE_SOURCE_DIR}/src/dmarc/abuse.c AND TARGET mamori_store AND TARGET mamori_spf)
    add_library(mamori_abuse STATIC src/dmarc/abuse.c)
    target_link_libraries(mamori_abuse mamori_rdap mamori_store mamori_spf mamori_dns mamori_core
      PkgConfig::CURL PkgConfig::JANSSON)

    # test helper: seeds the store through store.h and runs the command
    # without the `mamori dmarc` dispatcher (tests/integration/dmarc_abuse.sh)
    if(EXISTS ${CMAKE_SOURCE_DIR}/tests/integration/abuse/abuse_tool.c
       AND EXISTS ${CMAKE_SOURCE_DIR}/src/cli/cmd_dmarc_abuse.c)
      add_executable(abuse_tool tests/integration/abuse/abuse_tool.c src/cli/cmd_dmarc_abuse.c)
      target_link_libraries(abuse_tool mamori_abuse mamori_rdap mamori_store mamori_spf mamori_dns mamori_core)
      if(TARGET mamori_report)
        target_link_libraries(abuse_tool mamori_report) # agg_report_new and friends
      endif()
    endif()
  endif()
endif()

# `mamori dmarc abuse`: mamori is declared later (90-cli.cmake); link at the
# end of configuration once every part has declared its targets
function(mamori_abuse_link_cli)
  set(mamori_exe "-")
  if(TARGET mamori AND TARGET mamori_abuse AND EXISTS ${CMAKE_SOURCE_DIR}/src/cli/cmd_dmarc_abuse.c)
    target_link_libraries(mamori mamori_abuse mamori_rdap mamori_store mamori_spf mamori_dns mamori_core
      PkgConfig::CURL PkgConfig::JANSSON)
    set(mamori_exe $<TARGET_FILE:mamori>)
  endif()
  if(TARGET abuse_tool AND EXISTS ${CMAKE_SOURCE_DIR}/tests/integration/dmarc_abuse.sh AND NOT MAMORI_FUZZ)
    add_test(NAME dmarc_abuse
      COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/dmarc_abuse.sh ${mamori_exe} $<TARGET_FILE:abuse_tool>
        ${CMAKE_SOURCE_DIR}/tests/data/rdap ${CMAKE_SOURCE_DIR}/tests/integration/abuse)
    set_tests_properties(dmarc_abuse PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 300)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL mamori_abuse_link_cli)
