#!/usr/bin/env bash
# Review a change to a gitdock fleet repository in any CI system: validate
# HEAD, then write what the change does to every host (gitdock diff) to a
# file, ready to post as a pull or merge request comment.
#
# Usage: gitdock-review.sh [BASE] [OUT]
#   BASE  the revision to compare with (default: origin/main). The clone
#         must contain it: fetch full history, or at least the base branch.
#   OUT   where the diff goes (default: gitdock-diff.md)
#
# Environment:
#   GITDOCK         the command that runs gitdock, split on spaces
#                   (default: gitdock). gitdock is not on the npm registry:
#                   install it first (see README.md), or run it through npx
#                   with the package named, never a bare `npx gitdock`:
#                   GITDOCK="npx --yes --package=git+https://...#v0.1.0 gitdock".
#   GITDOCK_REPO    the fleet repository (default: .)
#   GITDOCK_FORMAT  markdown (default), text or json
#
# Exit codes:
#   0   HEAD is valid and no host changes (the file says so)
#   2   HEAD is valid and some hosts change: the file lists them. This is
#       what a deploy change is for, not a failure; in a CI system that
#       fails a job on any non-zero exit, run `gitdock-review.sh || [ $? -eq 2 ]`.
#   1   HEAD or BASE has invalid manifests (the file lists every error, as
#       file:line:column), or the repository or a revision cannot be read
#       (the reason is on stderr and the file may be empty). Fail the job.
#   64  wrong usage of gitdock (a bad GITDOCK_FORMAT, say).
set -uo pipefail

base=${1:-origin/main}
out=${2:-gitdock-diff.md}
repo=${GITDOCK_REPO:-.}
format=${GITDOCK_FORMAT:-markdown}
read -r -a gitdock <<<"${GITDOCK:-gitdock}"

# validate prints every error as file:line:column, which most CI log
# viewers link to the file. It needs no Docker engine.
"${gitdock[@]}" validate --repo "$repo"
valid=$?

# diff checks HEAD again and lists the same errors in the file, so a
# reviewer sees them in the comment too; it never talks to an engine either.
"${gitdock[@]}" diff "$base" HEAD --repo "$repo" --output "$format" >"$out"
changes=$?

case $changes in
  0) echo "gitdock-review: no host changes; the diff is in $out" >&2 ;;
  2) echo "gitdock-review: hosts change; the diff is in $out" >&2 ;;
  *) echo "gitdock-review: gitdock diff failed (exit $changes); see above and $out" >&2 ;;
esac

if [ "$valid" -ne 0 ]; then
  exit "$valid"
fi
exit "$changes"
