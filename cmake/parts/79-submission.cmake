# submission: the submission guard's engine (src/guard/submission.c: config
# compilation and decisions), its persistent account state
# (src/store/store_sqlite_accounts.c), mamorid's background worker and the
# Postfix policy service (guard_worker.c, policy_server.c), and
# `mamori account` (src/cli/cmd_account.c, compiled by the CLI's glob).
if(TARGET mamori_guard AND TARGET mamori_guardpolicy AND TARGET mamori_store
   AND EXISTS ${CMAKE_SOURCE_DIR}/src/guard/submission.c)
  if(NOT TARGET PkgConfig::CURL)
    pkg_check_modules(CURL REQUIRED IMPORTED_TARGET libcurl)
  endif()
  add_library(mamori_accounts STATIC src/store/store_sqlite_accounts.c)
  target_link_libraries(mamori_accounts mamori_store mamori_core PkgConfig::SQLITE3)

  # the engine only; the limiter backend (mamori_limiter) is linked by the
  # users, so a unit test can bring its own limiter.h double
  add_library(mamori_submission STATIC src/guard/submission.c)
  target_link_libraries(mamori_submission mamori_guardpolicy mamori_guard mamori_core Threads::Threads)

  add_library(mamori_guardsvc STATIC src/guard/guard_worker.c src/guard/policy_server.c)
  target_link_libraries(mamori_guardsvc mamori_submission mamori_accounts mamori_store mamori_guardpolicy
    mamori_core PkgConfig::CURL Threads::Threads)

  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_submission.c)
    mamori_unit_test(test_submission_unit SOURCES tests/unit/test_submission.c LIBS mamori_submission)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_accounts.c)
    mamori_unit_test(test_accounts SOURCES tests/unit/test_accounts.c LIBS mamori_accounts mamori_store)
  endif()
  if(TARGET mamori_limiter)
    if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_policy_server.c)
      mamori_unit_test(test_policy_server SOURCES tests/unit/test_policy_server.c
        LIBS mamori_guardsvc mamori_limiter)
      set_tests_properties(test_policy_server PROPERTIES TIMEOUT 120)
    endif()
    if(EXISTS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_sub_limit.c)
      mamori_fuzz_target(fuzz_sub_limit tests/fuzz/fuzz_sub_limit.c mamori_submission mamori_limiter)
    endif()
  endif()
endif()

# mamorid and mamori are declared in later parts: link at the end of
# configuration
function(mamori_submission_link)
  if(TARGET mamori AND TARGET mamori_accounts AND EXISTS ${CMAKE_SOURCE_DIR}/src/cli/cmd_account.c)
    target_link_libraries(mamori mamori_accounts mamori_store)
  endif()
  if(TARGET mamori AND TARGET mamori_submission AND TARGET mamori_limiter)
    target_link_libraries(mamori mamori_submission mamori_limiter)
  endif()
  if(TARGET mamorid AND TARGET mamori_guardsvc AND TARGET mamori_limiter)
    # src/milter/guard_setup.c: the guard's life in mamorid (glue, like milter.c)
    target_sources(mamorid PRIVATE ${CMAKE_SOURCE_DIR}/src/milter/guard_setup.c)
    target_link_libraries(mamorid mamori_guardsvc mamori_limiter)
  endif()
  # the guard's state across SIGHUP and restarts through mamorid's policy
  # socket (no MTA needed; Postfix-level tests are test_submission)
  if(TARGET mamorid AND TARGET mamori AND TARGET mamori_guardsvc AND NOT MAMORI_FUZZ
     AND EXISTS ${CMAKE_SOURCE_DIR}/tests/integration/test_guard_reload.sh)
    add_test(NAME test_guard_reload
      COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_guard_reload.sh
        $<TARGET_FILE:mamorid> $<TARGET_FILE:mamori>)
    set_tests_properties(test_guard_reload PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 120)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL mamori_submission_link)
