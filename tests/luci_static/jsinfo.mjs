// What the static checks (tests/luci_static) need to know about a LuCI
// module of luci-app-dprive, read with acorn (a real JS parser, not regexes):
//
//   node jsinfo.mjs info FILE...      one JSON object per file (a JSON list)
//   node jsinfo.mjs eval-schema FILE  the object dprive/schema.js hands to
//                                     baseclass.extend(), as JSON
//
// A LuCI module is a function body: L.require() reads the leading string
// statements ('use strict', 'require <module> [as <alias>]'), then runs the
// source as function(window, document, L, <aliases>), so a top-level
// `return` is allowed and required.
import { readFileSync } from 'node:fs';
import { parse } from 'acorn';

const REQUIRE = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?$/;
const STRICT = /^use[ \t]+strict$/;
const SECTION_CLASSES = new Set(['NamedSection', 'TypedSection', 'GridSection', 'TableSection']);

function parseModule(source) {
	return parse(source, {
		ecmaVersion: 2020, sourceType: 'script', locations: true,
		allowReturnOutsideFunction: true,
	});
}

function literal(node) {
	if (!node) return undefined;
	if (node.type === 'Literal') return node.value;
	if (node.type === 'TemplateLiteral' && node.expressions.length === 0)
		return node.quasis[0].value.cooked;
	if (node.type === 'ArrayExpression') {
		const out = node.elements.map(literal);
		return out.includes(undefined) ? undefined : out;
	}
	return undefined;
}

function dotted(node) {
	if (!node) return null;
	if (node.type === 'Identifier') return node.name;
	if (node.type === 'ThisExpression') return 'this';
	if (node.type === 'MemberExpression' && !node.computed) {
		const left = dotted(node.object);
		return left === null ? null : left + '.' + node.property.name;
	}
	return null;
}

function objectLiteral(node) {
	if (!node || node.type !== 'ObjectExpression') return null;
	const out = {};
	for (const p of node.properties) {
		if (p.type !== 'Property' || p.computed) continue;
		const key = p.key.type === 'Identifier' ? p.key.name : p.key.value;
		out[key] = p.value;
	}
	return out;
}

// Pre-order walk in source order, with the parent chain.
function walk(node, visit, parents = []) {
	if (!node || typeof node.type !== 'string') return;
	visit(node, parents);
	const next = parents.concat([node]);
	for (const key of Object.keys(node)) {
		if (key === 'loc' || key === 'start' || key === 'end') continue;
		const value = node[key];
		if (Array.isArray(value)) value.forEach(v => walk(v, visit, next));
		else if (value && typeof value.type === 'string') walk(value, visit, next);
	}
}

// Text a user reads that would bypass _(): a string literal (also 'x'.format(),
// 'a' + 'b', both arms of c ? 'a' : 'b') where LuCI shows it: E() children and
// its title/placeholder attributes, the title and description of form.Map,
// of a section and of an option, the properties LuCI renders as text, and
// ui.addNotification / ui.showModal. A literal without two letters in a row
// once its %-formats are gone ('%s (%s, %s)', '☰', ' ') is not text.
const SHOWN_PROPERTIES = new Set(['title', 'description', 'placeholder', 'addbtntitle',
	'delbtntitle', 'modaltitle', 'sectiontitle', 'tooltip', 'actionstitle']);
const SHOWN_ATTRIBUTES = ['title', 'placeholder', 'alt', 'aria-label', 'data-tooltip'];

function shownLiterals(node) {
	if (!node) return [];
	if (node.type === 'Literal' && typeof node.value === 'string') return [node];
	if (node.type === 'TemplateLiteral') return [node];
	if (node.type === 'ArrayExpression') return node.elements.flatMap(shownLiterals);
	if (node.type === 'ConditionalExpression') return shownLiterals(node.consequent).concat(shownLiterals(node.alternate));
	if (node.type === 'BinaryExpression' && node.operator === '+') return shownLiterals(node.left).concat(shownLiterals(node.right));
	if (node.type === 'CallExpression' && node.callee.type === 'MemberExpression' && !node.callee.computed
	    && node.callee.property.name === 'format')
		return shownLiterals(node.callee.object);
	return [];
}

function untranslatedText(ast) {
	const out = [];
	const check = (node, where) => {
		for (const lit of shownLiterals(node)) {
			const text = lit.type === 'Literal' ? lit.value : lit.quasis.map(q => q.value.cooked).join('');
			if (/[A-Za-z]{2}/.test(text.replace(/%[-+ 0#]*\d*(?:\.\d+)?[a-zA-Z%]/g, '')))
				out.push({ line: lit.loc.start.line, where, text });
		}
	};
	walk(ast, (node) => {
		if (node.type === 'AssignmentExpression' && node.left.type === 'MemberExpression'
		    && !node.left.computed && SHOWN_PROPERTIES.has(node.left.property.name))
			check(node.right, '.' + node.left.property.name);
		if (node.type === 'NewExpression' && dotted(node.callee) === 'form.Map')
			node.arguments.slice(1, 3).forEach(a => check(a, 'form.Map'));
		if (node.type !== 'CallExpression') return;
		const callee = dotted(node.callee), args = node.arguments;
		const method = (node.callee.type === 'MemberExpression' && !node.callee.computed) ? node.callee.property.name : null;
		if (callee === 'E') {
			const attrs = objectLiteral(args[1]);
			if (attrs) {
				SHOWN_ATTRIBUTES.forEach(k => check(attrs[k], 'E() ' + k));
				check(args[2], 'E() children');
			} else {
				check(args[1], 'E() children');
			}
		}
		if (method === 'option' || method === 'taboption') {
			const at = method === 'taboption' ? 1 : 0;
			args.slice(at + 2, at + 4).forEach(a => check(a, method + '() title/description'));
		}
		if (method === 'section') {
			const named = (dotted(args[0]) || '').endsWith('NamedSection');
			args.slice(named ? 3 : 2, named ? 5 : 4).forEach(a => check(a, 'section() title/description'));
		}
		if (callee === 'ui.addNotification' || callee === 'ui.showModal')
			args.slice(0, 2).forEach(a => check(a, callee));
	});
	return out;
}

function header(ast) {
	const pragmas = [];
	const requires = [];
	let ok = true;
	for (const stmt of ast.body) {
		if (stmt.type !== 'ExpressionStatement' || stmt.expression.type !== 'Literal' ||
		    typeof stmt.expression.value !== 'string')
			break;
		const text = stmt.expression.value;
		pragmas.push(text);
		const m = REQUIRE.exec(text);
		if (m)
			requires.push({ module: m[1], alias: m[2] || m[1].replace(/[^a-zA-Z0-9_]/g, '_') });
		else if (!STRICT.test(text))
			ok = false;
	}
	return { pragmas, requires, ok };
}

function info(file) {
	const source = readFileSync(file, 'utf8');
	const ast = parseModule(source);
	const head = header(ast);
	const last = ast.body[ast.body.length - 1];
	let returns = null;
	if (last && last.type === 'ReturnStatement' && last.argument &&
	    last.argument.type === 'CallExpression')
		returns = dotted(last.argument.callee);

	// Compiles the way LuCI runs it: a function body with these parameters.
	let compiles = true, compileError = null;
	try {
		new Function('window', 'document', 'L', ...head.requires.map(r => r.alias), source);
	} catch (err) {
		compiles = false;
		compileError = String(err);
	}

	const rpc = [], options = [], maps = [], uci = [], strings = [], sectionsSeen = [];
	const sections = new Map();    // variable -> section, by the last assignment read
	const sectionOf = (call) => {
		const cls = dotted(call.arguments[0]);
		const name = cls ? cls.split('.').pop() : null;
		if (!SECTION_CLASSES.has(name)) return null;
		if (name === 'NamedSection')
			return { class: name, name: literal(call.arguments[1]) ?? null,
			         type: literal(call.arguments[2]) ?? null };
		return { class: name, name: null, type: literal(call.arguments[1]) ?? null };
	};
	const bind = (target, value) => {
		if (!target || target.type !== 'Identifier' || !value || value.type !== 'CallExpression')
			return;
		const callee = value.callee;
		if (callee.type === 'MemberExpression' && !callee.computed && callee.property.name === 'section') {
			const sec = sectionOf(value);
			if (sec) sections.set(target.name, sec);
		}
	};

	walk(ast, (node) => {
		if (node.type === 'VariableDeclarator') bind(node.id, node.init);
		if (node.type === 'AssignmentExpression') bind(node.left, node.right);
		if (node.type !== 'CallExpression') return;
		const callee = dotted(node.callee);
		const line = node.loc.start.line;
		const args = node.arguments;

		if (callee === 'rpc.declare') {
			const spec = objectLiteral(args[0]) || {};
			rpc.push({
				line,
				object: literal(spec.object) ?? null,
				method: literal(spec.method) ?? null,
				params: spec.params ? (literal(spec.params) ?? null) : [],
			});
		} else if (callee === '_' || callee === 'N_') {
			const entry = { line, fn: callee };
			if (callee === '_') {
				entry.msgid = literal(args[0]) ?? null;
				entry.context = args[1] ? (literal(args[1]) ?? null) : null;
			} else {
				entry.msgid = literal(args[1]) ?? null;
				entry.plural = literal(args[2]) ?? null;
				entry.context = args[3] ? (literal(args[3]) ?? null) : null;
			}
			strings.push(entry);
		} else if (node.callee.type === 'NewExpression' || callee === null) {
			return;
		}

		if (node.callee.type === 'MemberExpression' && !node.callee.computed) {
			const method = node.callee.property.name;
			const owner = dotted(node.callee.object);
			if (method === 'section') {
				const sec = sectionOf(node);
				if (sec) sectionsSeen.push({ line, ...sec });
			}
			if ((method === 'option' || method === 'taboption') && owner !== null) {
				const at = method === 'taboption' ? 1 : 0;
				const cls = dotted(args[at]);
				if (cls && cls.startsWith('form.')) {
					options.push({
						line, class: cls.slice(5), variable: owner,
						name: literal(args[at + 1]) ?? null,
						section: sections.get(owner.split('.')[0]) || null,
					});
				}
			}
			if (owner === 'uci' && ['load', 'get', 'get_first', 'set', 'set_first', 'add',
			                        'remove', 'unset', 'sections', 'move'].includes(method))
				uci.push({ line, method, config: literal(args[0]) ?? null,
				           option: ['get', 'set', 'unset'].includes(method)
				                   ? (literal(args[2]) ?? null) : null });
		}
	});

	walk(ast, (node) => {
		if (node.type === 'NewExpression' && dotted(node.callee) === 'form.Map')
			maps.push({ line: node.loc.start.line, config: literal(node.arguments[0]) ?? null });
	});

	return { file, header: head, returns, compiles, compileError, rpc, options,
	         sections: sectionsSeen, maps, uci, strings, untranslated: untranslatedText(ast) };
}

function evalSchema(file) {
	const source = readFileSync(file, 'utf8');
	const ast = parseModule(source);
	const head = header(ast);
	if (!head.ok || head.requires.length !== 1 || head.requires[0].module !== 'baseclass')
		throw new Error(`${file}: header must be 'use strict' and 'require baseclass'`);
	let seen = null;
	const baseclass = { extend: (props) => (seen = props, function () {}) };
	// _() is LuCI's global translation function; without a catalog it returns its argument
	new Function('window', 'document', 'L', 'baseclass', '_', source)({}, {}, {}, baseclass, (s) => s);
	return seen;
}

const [cmd, ...files] = process.argv.slice(2);
if (cmd === 'info')
	process.stdout.write(JSON.stringify(files.map(info)));
else if (cmd === 'eval-schema')
	process.stdout.write(JSON.stringify(evalSchema(files[0])));
else {
	process.stderr.write('usage: node jsinfo.mjs info FILE... | eval-schema FILE\n');
	process.exit(2);
}
