#!/bin/sh
# lazarus-host: the Lazarus host agent, run by the Node 24 this package ships (Debian 12 and Ubuntu 24.04
# have Node 18, which the AWS SDK no longer supports).
exec /usr/lib/lazarus-host/node --disable-warning=ExperimentalWarning /usr/lib/lazarus-host/lazarus-host.mjs "$@"
