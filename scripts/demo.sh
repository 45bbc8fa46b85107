#!/usr/bin/env bash
# A live two-room demo on local real services: etcd + one Kafka broker per room, the controller,
# a producer writing to both rooms and a consumer following the route. Kills room-a's broker and
# shows the flip with its timings. Installs what is missing first; tears everything down after.
source "$(dirname "$0")/lib.sh"
ensure_built
with_services
node dist/demo/run.js "$@"
