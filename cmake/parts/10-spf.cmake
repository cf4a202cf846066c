# spf: RFC 7208 check_host(), record parser, macros
file(GLOB SPF_SRC ${CMAKE_SOURCE_DIR}/src/auth/spf*.c)
if(SPF_SRC)
  add_library(mamori_spf STATIC ${SPF_SRC})
  target_link_libraries(mamori_spf mamori_dns mamori_core)

  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_spf.c)
    mamori_unit_test(test_spf SOURCES tests/unit/test_spf.c LIBS mamori_spf)
  endif()

  # the OpenSPF RFC 7208 suite (pyspf copy, 203 tests) against a stub resolver
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/conformance/spf_suite.c)
    add_executable(spf_suite tests/conformance/spf_suite.c)
    target_link_libraries(spf_suite mamori_spf PkgConfig::YAML)
    target_compile_definitions(spf_suite PRIVATE MAMORI_CORPUS="${MAMORI_CORPUS}")
    add_test(NAME spf_suite COMMAND spf_suite)
    set_tests_properties(spf_suite PROPERTIES LABELS conformance)
    add_test(NAME spf_suite_rfc4408 COMMAND spf_suite --rfc4408)
    set_tests_properties(spf_suite_rfc4408 PROPERTIES LABELS conformance)
  endif()

  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_spf.c)
    mamori_fuzz_target(fuzz_spf tests/fuzz/fuzz_spf.c mamori_spf)
  endif()
endif()
