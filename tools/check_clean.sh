#!/usr/bin/env bash
# Fails when nbdev_clean or nbdev_export would change any tracked file, or when README.md is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
before=$(git status --porcelain --untracked-files=all)
$BIN/nbdev_clean
$BIN/nbdev_clean --fname stages  # the stage notebooks: sources only (papermill runs them into reports/)
$BIN/nbdev_export
after=$(git status --porcelain --untracked-files=all)
if [ "$before" != "$after" ]; then
  echo "FAIL: nbdev_clean/nbdev_export changed files (notebooks unclean or ded_nb/ out of sync with nbs/):" >&2
  diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") >&2 || true
  git --no-pager diff --stat >&2 || true
  exit 1
fi
$BIN/python tools/readme.py --check
echo "check-clean: notebooks clean, library in sync, README current"
