// Preload (node --require) that makes every native addon fail to load, to
// show that a test needs none: `npm run test:unit` runs test/unit/ with it.
'use strict'
const Module = require('node:module')
Module._extensions['.node'] = (_module, filename) => {
  throw new Error(`native addon refused by scripts/no-addon.js: ${filename}`)
}
