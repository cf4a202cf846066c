# arc: ARC chain validation (RFC 8617 5.2) on top of the DKIM canonicalisation
# and key code
if(EXISTS ${CMAKE_SOURCE_DIR}/src/auth/arc.c)
  add_library(mamori_arc STATIC src/auth/arc.c)
  target_link_libraries(mamori_arc mamori_dkim mamori_authbase mamori_dns mamori_core PkgConfig::OPENSSL)
  if(MAMORI_FUZZ)
    # coverage feedback for libFuzzer needs the library instrumented too
    target_compile_options(mamori_arc PRIVATE -fsanitize=fuzzer-no-link)
  endif()

  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_arc.c)
    mamori_unit_test(test_arc SOURCES tests/unit/test_arc.c LIBS mamori_arc)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/conformance/arc_suite.c)
    add_executable(arc_suite tests/conformance/arc_suite.c)
    target_link_libraries(arc_suite mamori_arc PkgConfig::YAML)
    target_compile_definitions(arc_suite PRIVATE MAMORI_CORPUS="${MAMORI_CORPUS}")
    add_test(NAME arc_suite COMMAND arc_suite)
    set_tests_properties(arc_suite PROPERTIES LABELS conformance)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_arc.c)
    mamori_fuzz_target(fuzz_arc tests/fuzz/fuzz_arc.c mamori_arc)
  endif()
endif()
