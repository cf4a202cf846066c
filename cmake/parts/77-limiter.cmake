# limiter: where the submission guard's rate-limit state lives (limiter.h):
# in process (ratelimit.c via mamori_guard) or in Redis (limiter_redis.c,
# hiredis, one Lua script per decision; docs/redis.md).
if(EXISTS ${CMAKE_SOURCE_DIR}/src/guard/limiter.c AND TARGET mamori_guard)
  pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)
  add_library(mamori_limiter STATIC
    ${CMAKE_SOURCE_DIR}/src/guard/limiter.c
    ${CMAKE_SOURCE_DIR}/src/guard/limiter_redis.c)
  target_link_libraries(mamori_limiter mamori_guard mamori_core PkgConfig::HIREDIS Threads::Threads)

  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_limiter.c)
    mamori_unit_test(test_limiter SOURCES tests/unit/test_limiter.c LIBS mamori_limiter)
  endif()

  # bench_ratelimit (75-guard.cmake) measures the Redis backend too (--redis URL)
  if(TARGET bench_ratelimit)
    target_link_libraries(bench_ratelimit mamori_limiter PkgConfig::HIREDIS)
  endif()

  # the Redis backend against a real redis-server started by the script
  # (and a short bench run through it)
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/integration/test_limiter_redis.sh)
    add_executable(limiter_redis_check tests/integration/limiter_redis_check.c)
    target_link_libraries(limiter_redis_check mamori_limiter PkgConfig::HIREDIS Threads::Threads)
    set(_limiter_redis_args $<TARGET_FILE:limiter_redis_check>)
    if(TARGET bench_ratelimit)
      list(APPEND _limiter_redis_args $<TARGET_FILE:bench_ratelimit>)
    endif()
    add_test(NAME test_limiter_redis
      COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_limiter_redis.sh ${_limiter_redis_args})
    set_tests_properties(test_limiter_redis PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 120)
  endif()
endif()

# two mamorids sharing one Redis through the policy service
# (tests/integration/test_redis_guard.sh); mamorid is declared in a later
# part: add the test at the end of configuration
function(mamori_limiter_guard_test)
  if(TARGET mamorid AND TARGET mamori_limiter
     AND EXISTS ${CMAKE_SOURCE_DIR}/tests/integration/test_redis_guard.sh)
    add_test(NAME test_redis_guard
      COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_redis_guard.sh $<TARGET_FILE:mamorid>)
    set_tests_properties(test_redis_guard PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 120)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL mamori_limiter_guard_test)
