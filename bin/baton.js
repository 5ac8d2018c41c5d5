#!/usr/bin/env -S node --disable-warning=TimeoutNegativeWarning
// Entry point installed as `baton`; the CLI itself is TypeScript run by Node 24's type stripping.
import "../cli/main.ts";
