#!/bin/sh
# The entrypoint of the official node image, which images/medusa/Dockerfile inherits from
# node:22-bookworm-slim (written here, not copied): run the arguments with node when the
# first one is an option or not a command, else run them as they are.
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
	set -- node "$@"
fi
exec "$@"
