#!/usr/bin/env bash
# Installs what is missing, builds Syncline and runs the whole test suite.
#   scripts/test.sh            # RelWithDebInfo build in build/
#   scripts/test.sh asan       # AddressSanitizer + UBSan build in build-asan/
#   scripts/test.sh tsan       # ThreadSanitizer build in build-tsan/
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

variant=${1:-default}
case "$variant" in
  default) dir=build; flags=() ;;
  asan) dir=build-asan; flags=(-DSYNCLINE_ASAN=ON -DCMAKE_BUILD_TYPE=Debug) ;;
  tsan) dir=build-tsan; flags=(-DSYNCLINE_TSAN=ON -DCMAKE_BUILD_TYPE=Debug) ;;
  *) echo "test.sh: unknown variant '$variant' (default, asan or tsan)" >&2; exit 1 ;;
esac

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$dir" "${flags[@]}" >/dev/null
cmake --build "$dir" -j "$jobs"
cd "$dir"
ctest --output-on-failure -j "$jobs" --timeout 1800
