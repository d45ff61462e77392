// ESLint configuration for luci-app-dprive's JavaScript (tests/luci_static).
//
// Run from the top of the repository (as test_lint.py does):
//   tests/luci_static/node_modules/.bin/eslint -c tests/luci_static/eslint.config.mjs luci-app/htdocs
//
// LuCI loads a module with L.require(): the source becomes the body of
// function(window, document, L, <one parameter per 'require' line>), after
// cbi.js has defined the page globals E(), _() and N_(). So each file is
// linted as a script with a top-level return, the browser's globals, LuCI's
// globals read-only, and as read-only globals exactly the aliases its own
// 'require' lines bind (a module used without being required is an error).
import js from '@eslint/js';
import globals from 'globals';
import { parse } from 'acorn';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');
// DPRIVE_LUCI_HTDOCS: another tree (the tests lint scratch copies with it).
const HTDOCS = process.env.DPRIVE_LUCI_HTDOCS || join(ROOT, 'luci-app', 'htdocs');
const REQUIRE = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?$/;

// The globals of a LuCI page: the factory's parameters and what cbi.js defines.
const LUCI_GLOBALS = {
	L: 'readonly', E: 'readonly', _: 'readonly', N_: 'readonly',
	cbi_init: 'readonly', cbi_submit: 'readonly', cbi_update_table: 'readonly',
};

function jsFiles(dir) {
	let out = [];
	let names = [];
	try { names = readdirSync(dir); } catch { return out; }
	for (const name of names.sort()) {
		const path = join(dir, name);
		if (statSync(path).isDirectory()) out = out.concat(jsFiles(path));
		else if (name.endsWith('.js')) out.push(path);
	}
	return out;
}

// The aliases a module's 'require' lines bind, as read-only globals.
function requiredAliases(path) {
	const out = {};
	let ast;
	try {
		ast = parse(readFileSync(path, 'utf8'), {
			ecmaVersion: 2020, sourceType: 'script', allowReturnOutsideFunction: true,
		});
	} catch {
		return out;        // ESLint reports the syntax error itself
	}
	for (const stmt of ast.body) {
		if (stmt.type !== 'ExpressionStatement' || stmt.expression.type !== 'Literal' ||
		    typeof stmt.expression.value !== 'string')
			break;
		const m = REQUIRE.exec(stmt.expression.value);
		if (m) out[m[2] || m[1].replace(/[^a-zA-Z0-9_]/g, '_')] = 'readonly';
	}
	return out;
}

const perFile = jsFiles(HTDOCS).map((path) => ({
	files: [relative(process.cwd(), path)],
	languageOptions: { globals: requiredAliases(path) },
}));

export default [
	js.configs.recommended,
	{
		files: ['**/*.js'],
		languageOptions: {
			ecmaVersion: 2020,
			sourceType: 'script',
			parserOptions: { ecmaFeatures: { globalReturn: true } },
			globals: { ...globals.browser, ...LUCI_GLOBALS },
		},
		linterOptions: { reportUnusedDisableDirectives: 'error' },
		rules: {
			// view methods keep LuCI's signatures (render(data), handleSave(ev));
			// `catch (e) {}` without using e is LuCI's usual style.
			'no-unused-vars': ['error', { args: 'none', caughtErrors: 'none' }],
			'no-implicit-globals': 'error',
			'no-shadow-restricted-names': 'error',
			'no-eval': 'error',
			'no-implied-eval': 'error',
		},
	},
	...perFile,
];
