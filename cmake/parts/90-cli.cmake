# the authentication pipeline and the `mamori` command; needs every auth module
if(TARGET mamori_spf AND TARGET mamori_dkim AND TARGET mamori_arc AND TARGET mamori_dmarc AND TARGET mamori_authres)
  add_library(mamori_authcheck STATIC src/auth/authcheck.c)
  target_link_libraries(mamori_authcheck mamori_spf mamori_arc mamori_dkim mamori_dmarc mamori_authres
    mamori_authbase mamori_dns mamori_core PkgConfig::JANSSON)

  file(GLOB CLI_SRC ${CMAKE_SOURCE_DIR}/src/cli/*.c)
  add_executable(mamori ${CLI_SRC})
  target_link_libraries(mamori mamori_authcheck)

  file(GLOB CHECK_CASES ${CMAKE_SOURCE_DIR}/tests/integration/check_cases.sh)
  if(CHECK_CASES)
    add_test(NAME check_cases COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/check_cases.sh $<TARGET_FILE:mamori>)
    set_tests_properties(check_cases PROPERTIES LABELS integration)
  endif()
endif()

if(TARGET mamori)
  add_test(NAME config_doc COMMAND bash ${CMAKE_SOURCE_DIR}/tests/check_config_doc.sh $<TARGET_FILE:mamori>)
  set_tests_properties(config_doc PROPERTIES LABELS style)
endif()
