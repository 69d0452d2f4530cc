#!/usr/bin/env node
// The `filestore` command, from the compiled code (npm ci builds it; npm run build refreshes it).
await import('../dist/src/cli/main.js');
