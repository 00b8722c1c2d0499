// package.json's engines, said plainly: on an older Node the executables
// would otherwise fail with a TypeError from an API that Node lacks.
'use strict';

module.exports = function requireSupportedNode(program) {
  const [major, minor] = process.versions.node.split('.').map(Number);
  if (major > 22 || (major === 22 && minor >= 12)) return;
  process.stderr.write(`Error: ${program} needs Node.js 22.12 or later (24 LTS recommended); ${process.execPath} is v${process.versions.node}\n`);
  process.exit(2);
};
