# guard-policy: Postfix policy delegation protocol (src/guard/policy_proto.c)
# and stolen-account detection (src/guard/account_lock.c). Pure modules: no
# daemon, config or milter wiring yet.
if(EXISTS ${CMAKE_SOURCE_DIR}/src/guard/policy_proto.c AND EXISTS ${CMAKE_SOURCE_DIR}/src/guard/account_lock.c)
  add_library(mamori_guardpolicy STATIC
    ${CMAKE_SOURCE_DIR}/src/guard/policy_proto.c
    ${CMAKE_SOURCE_DIR}/src/guard/account_lock.c)
  target_link_libraries(mamori_guardpolicy mamori_core Threads::Threads)

  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_policy_proto.c)
    mamori_unit_test(test_policy_proto SOURCES tests/unit/test_policy_proto.c LIBS mamori_guardpolicy)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_account_lock.c)
    mamori_unit_test(test_account_lock SOURCES tests/unit/test_account_lock.c LIBS mamori_guardpolicy)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_policy_proto.c)
    mamori_fuzz_target(fuzz_policy_proto tests/fuzz/fuzz_policy_proto.c mamori_guardpolicy)
  endif()
endif()
