#!/usr/bin/env bash
# Runs every test: unit, conformance and integration tests under ASan+UBSan
# (CTest), then each libFuzzer target for a short time. Ends with one line
# "N passed, N failed". Exit status is non-zero when anything failed.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)
fuzz_seconds=${MAMORI_FUZZ_SECONDS:-15}
passed=0
failed=0

echo "== build (ASan+UBSan)"
mkdir -p build
if ! cmake -S . -B build/asan -DCMAKE_BUILD_TYPE=Debug -DMAMORI_SANITIZE=ON >build/asan-configure.log 2>&1; then
	cat build/asan-configure.log; echo "configure failed"; echo "0 passed, 1 failed"; exit 1
fi
if ! cmake --build build/asan -j"$jobs"; then
	echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi

echo "== ctest"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build/asan && ctest --output-on-failure -j"$jobs" --timeout 900) | tee build/ctest.log
ct_pass=$(sed -n 's/.*tests passed, \([0-9]*\) tests failed out of \([0-9]*\).*/\2 \1/p' build/ctest.log | tail -1)
if [ -n "$ct_pass" ]; then
	total=${ct_pass% *}; nfail=${ct_pass#* }
	passed=$((passed + total - nfail)); failed=$((failed + nfail))
else
	failed=$((failed + 1))
fi

echo "== fuzz (libFuzzer, ${fuzz_seconds}s per target)"
if cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DMAMORI_FUZZ=ON -DMAMORI_SANITIZE=ON >build/fuzz-configure.log 2>&1 &&
	cmake --build build/fuzz -j"$jobs" >build/fuzz-build.log 2>&1; then
	for f in build/fuzz/fuzz_*; do
		[ -x "$f" ] || continue
		name=$(basename "$f")
		work=build/fuzz/corpus-$name
		mkdir -p "$work"
		if "$f" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
			-artifact_prefix=build/fuzz/"$name"- "$work" "tests/fuzz/corpus/$name" >build/fuzz/"$name".log 2>&1; then
			echo "fuzz $name: ok ($(grep -o 'Done [0-9]* runs' build/fuzz/"$name".log | tail -1))"
			passed=$((passed + 1))
		else
			echo "fuzz $name: FAILED (see build/fuzz/$name.log)"
			tail -30 build/fuzz/"$name".log
			failed=$((failed + 1))
		fi
	done
else
	echo "fuzz build failed:"; tail -30 build/fuzz-build.log
	failed=$((failed + 1))
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
