#!/usr/bin/env bash
# Supplementary: same as bench-h2.sh but duration-based (5 s measured after 1 s warm-up) so both servers are measured over equal time.
exec "$(dirname "$0")/bench-h2.sh" --duration
