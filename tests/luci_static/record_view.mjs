// Run a luci-app-dprive view against recording stand-ins of LuCI's modules,
// in Node, and print what it declared and bound (JSON):
//
//   node record_view.mjs VIEW.js SCHEMA.js [--render]
//
//   rpc      every rpc.declare({object, method, params}) the module makes
//   maps     the config of every new form.Map(config)
//   sections every m.section(form.X, ...) with the options bound to it:
//            section.option(form.Y, 'name', ...) / taboption('tab', form.Y, 'name', ...)
//   uci      uci.* calls made while rendering (method, config, option)
//
// Without --render only the module's top level runs (what it declares);
// with --render also view.load() and view.render(). Why run the code: the
// settings view binds its options in a loop over field lists and takes the
// section types from dprive/schema.js, so the names are not literals in the
// source. The stand-ins only record and absorb calls (any other property is
// a callable no-op that returns another one); they are no model of LuCI,
// which the browser tests under tests/luci exercise.
import { readFileSync } from 'node:fs';
import { parse } from 'acorn';

const REQUIRE = /^require[ \t]+(\S+)(?:[ \t]+as[ \t]+([a-zA-Z_]\S*))?$/;

function requires(source) {
	const ast = parse(source, { ecmaVersion: 2020, sourceType: 'script',
	                            allowReturnOutsideFunction: true });
	const out = [];
	for (const stmt of ast.body) {
		if (stmt.type !== 'ExpressionStatement' || stmt.expression.type !== 'Literal' ||
		    typeof stmt.expression.value !== 'string')
			break;
		const m = REQUIRE.exec(stmt.expression.value);
		if (m) out.push({ module: m[1], alias: m[2] || m[1].replace(/[^a-zA-Z0-9_]/g, '_') });
	}
	return out;
}

// A callable, constructible no-op whose properties are more of the same
// (values assigned to it are kept). Not thenable.
function absorber() {
	const store = {};
	return new Proxy(function () {}, {
		get(t, key) {
			if (key === 'then') return undefined;
			if (key === Symbol.toPrimitive) return () => '';
			if (key === Symbol.iterator) return [][Symbol.iterator];
			if (key in store) return store[key];
			return absorber();
		},
		set(t, key, value) { store[key] = value; return true; },
		apply() { return absorber(); },
		construct() { return absorber(); },
	});
}

// Enough of String.prototype.format for views that format at render time.
if (!String.prototype.format) {
	Object.defineProperty(String.prototype, 'format', {
		value: function (...args) {
			let i = 0;
			return this.replace(/%(%|[-+ 0#]*\d*(?:\.\d+)?[sdufhqxXoct])/g, (m, spec) => {
				if (spec === '%') return '%';
				const v = args[i++];
				const prec = /\.(\d+)/.exec(spec);
				if (/[fd u]$/.test(spec) && prec) return Number(v).toFixed(+prec[1]);
				if (/[du]$/.test(spec)) return String(Math.trunc(Number(v)));
				return String(v);
			});
		},
	});
}

const record = { rpc: [], maps: [], sections: [], uci: [] };
const literal = (v) => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
                        || v === null) ? v : undefined;

const form = new Proxy({}, {
	get(t, name) {
		if (name === 'Map')
			return function FormMap(config) {
				record.maps.push({ config: literal(config) ?? null });
				const map = absorber();
				map.section = (cls, ...args) => {
					const sec = { class: cls && cls.__form || null, args: args.map(literal),
					              options: [] };
					record.sections.push(sec);
					const s = absorber();
					const bindOption = (cls2, name) => {
						sec.options.push({ class: cls2 && cls2.__form || null,
						                   name: literal(name) ?? null });
						return absorber();
					};
					s.option = (cls2, name) => bindOption(cls2, name);
					s.taboption = (tab, cls2, name) => bindOption(cls2, name);
					return s;
				};
				map.render = () => Promise.resolve(absorber());
				return map;
			};
		return { __form: String(name) };
	},
});

const rpc = absorber();
rpc.declare = (spec) => {
	record.rpc.push({ object: literal(spec && spec.object) ?? null,
	                  method: literal(spec && spec.method) ?? null,
	                  params: Array.isArray(spec && spec.params) ? spec.params.slice() : [] });
	return () => Promise.resolve({});
};

const uci = absorber();
for (const method of ['load', 'get', 'get_first', 'set', 'set_first', 'add', 'remove',
                      'unset', 'sections', 'move', 'save', 'unload'])
	uci[method] = (config, sid, option) => {
		record.uci.push({ method, config: literal(config) ?? null,
		                  option: ['get', 'set', 'unset'].includes(method)
		                          ? (literal(option) ?? null) : null });
		if (method === 'sections') return [];
		if (method === 'add') return 'cfg0';
		if (method === 'load' || method === 'save') return Promise.resolve();
		return null;
	};

function loadSchema(file) {
	const source = readFileSync(file, 'utf8');
	const baseclass = { extend: (props) => function () { Object.assign(this, props); } };
	const Cls = new Function('window', 'document', 'L', 'baseclass', '_', source)(
		absorber(), absorber(), absorber(), baseclass, (s) => s);
	return new Cls();
}

const [viewFile, schemaFile, ...flags] = process.argv.slice(2);
const source = readFileSync(viewFile, 'utf8');
const modules = {
	view: { extend: (proto) => proto },
	form, rpc, uci,
	'dprive.schema': loadSchema(schemaFile),
};
const deps = requires(source);
const factory = new Function('window', 'document', 'L', ...deps.map(d => d.alias), source);
globalThis.E = () => absorber();
globalThis._ = (s) => s;
globalThis.N_ = (n, s, p) => (n == 1 ? s : p);
const proto = factory(absorber(), absorber(), absorber(),
                      ...deps.map(d => (d.module in modules ? modules[d.module] : absorber())));

if (flags.includes('--render')) {
	const data = typeof proto.load === 'function' ? await proto.load() : undefined;
	await proto.render(data);
}
process.stdout.write(JSON.stringify(record));
