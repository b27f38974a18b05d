#!/usr/bin/env bash
# Does spdy@4.0.2 load? require('spdy') on system Node 20 and pinned Node 26.10.0.
cd "$(dirname "$0")"
mkdir -p results/load
for n in node ../../../node_modules/.bin/node; do
  v=$($n -v)
  $n -e "require('spdy'); console.log('spdy loaded OK')" > results/load/$v.txt 2>&1
  echo "exit=$?" >> results/load/$v.txt
  echo "===== $n ($v)"; cat results/load/$v.txt
done
