// Loads the project's TypeScript for the command-line tools: each .ts file is transpiled by
// esbuild when it is first required (types are checked once, by `npm test`). Unlike a general
// loader it hooks only .ts files, so the thousands of JavaScript files of @pulumi/* load at
// Node's own speed. Plain JavaScript on purpose: it is what makes TypeScript loadable.
"use strict";
const fs = require("fs");
const { transformSync } = require("esbuild");

require.extensions[".ts"] = function loadTypeScript(module, filename) {
    const source = fs.readFileSync(filename, "utf8");
    const { code } = transformSync(source, { loader: "ts", format: "cjs", target: "node22", sourcefile: filename });
    module._compile(code, filename);
};
