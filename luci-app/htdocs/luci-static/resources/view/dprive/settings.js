'use strict';
'require view';
'require form';
'require uci';
'require ui';
'require dprive.schema as schema';

/*
 * dprive settings: /etc/config/dprive. Every field is validated with the rules
 * of dprive.schema (the same description `dprive check` uses), carried here by
 * the generated module dprive/schema.js.
 */

var PRESETS = [
	{ id: 'cloudflare', name: 'Cloudflare', address: '1.1.1.1', auth_name: 'cloudflare-dns.com' },
	{ id: 'quad9', name: 'Quad9', address: '9.9.9.9', auth_name: 'dns.quad9.net' },
	{ id: 'google', name: 'Google', address: '8.8.8.8', auth_name: 'dns.google' }
];

var MAIN_FIELDS = [
	'listen_port', 'profile', 'tls_min_version', 'padding_block', 'dtls_probe_interval_s',
	'dtls_resume_after_s', 'tcp_fastopen', 'tls_resumption', 'keep_warm', 'dnsmasq',
	'force_dns', 'log_level'
];
var UPSTREAM_FIELDS = [ 'name', 'address', 'port', 'auth_name', 'transport', 'spki', 'keepalive_idle_s', 'enabled' ];

var TITLES = {
	listen_port: _('Listen port'), profile: _('Privacy profile'), tls_min_version: _('Minimum TLS version'),
	padding_block: _('Padding block (bytes)'), dtls_probe_interval_s: _('DTLS probe interval (s)'),
	dtls_resume_after_s: _('DTLS resume after (s)'), tcp_fastopen: _('TCP Fast Open'),
	tls_resumption: _('TLS session resumption'), keep_warm: _('Keep sessions warm'),
	dnsmasq: _('Use with dnsmasq'), force_dns: _('Force LAN DNS through the router'), log_level: _('Log level'),
	name: _('Name'), address: _('Address'), port: _('Port'), auth_name: _('Authentication name'),
	transport: _('Transport'), spki: _('SPKI pins'), keepalive_idle_s: _('Keepalive idle (s)'), enabled: _('Enabled')
};

/* the schema's checks, for the ones LuCI's datatypes cannot say */
function isBase64Sha256(value) {
	if (!/^[A-Za-z0-9+/]{43}=$/.test(value))
		return false;
	try {
		return window.atob(value).length == 32;
	}
	catch (e) {
		return false;
	}
}

function datatypeOf(spec) {
	switch (spec.type) {
	case 'port': return 'and(port,min(1))';
	case 'int': return 'and(integer,range(%d,%d))'.format(spec.min, spec.max);
	case 'ip': return 'ipaddr';
	case 'hostname': return 'hostname';
	case 'string': return 'rangelength(%d,%d)'.format(spec.min || 0, spec.max || 255);
	case 'spki': return 'rangelength(44,44)';
	}
	return null;
}

function addOption(section, name, spec) {
	var o, def = spec['default'];
	switch (spec.type) {
	case 'bool':
		o = section.option(form.Flag, name, TITLES[name] || name, spec.help);
		o['default'] = def ? '1' : '0';
		o.rmempty = !spec.required;
		break;
	case 'enum':
		o = section.option(form.ListValue, name, TITLES[name] || name, spec.help);
		spec.choices.forEach(function(c) { o.value(c); });
		o['default'] = def;
		break;
	case 'spki':
		o = section.option(form.DynamicList, name, TITLES[name] || name, spec.help);
		o.placeholder = _('base64 SHA-256 (44 characters)');
		o.validate = function(sid, value) {
			return (value == '' || isBase64Sha256(value)) ? true : _('base64 of a 32-byte SHA-256 digest (44 characters)');
		};
		break;
	default:
		o = section.option(form.Value, name, TITLES[name] || name, spec.help);
		if (def != null && def !== '' && !Array.isArray(def))
			o.placeholder = String(def);
		o.rmempty = !spec.required;
		if (spec.type == 'ip')
			o.validate = function(sid, value) {
				return (value.indexOf('/') < 0 && value.indexOf('%') < 0) ? true : _('an address without prefix length or scope id');
			};
	}
	o.datatype = datatypeOf(spec);
	o.editable = true;
	return o;
}

return view.extend({
	load: function() {
		return uci.load('dprive');
	},

	handleAddPreset: function(map, select, ev) {
		var preset = PRESETS.filter(function(p) { return p.id == select.value; })[0];
		if (!preset)
			return Promise.resolve();
		/* after the form is parsed (current edits kept) and before the changes are
		   staged: the same path as LuCI's own "Add" (map.save), applied on Save & Apply */
		return map.save(function() {
			var sid = uci.add('dprive', schema.upstream.section);
			uci.set('dprive', sid, 'name', preset.name);
			uci.set('dprive', sid, 'address', preset.address);
			uci.set('dprive', sid, 'port', '853');
			uci.set('dprive', sid, 'auth_name', preset.auth_name);
			uci.set('dprive', sid, 'transport', 'tls');
		}, true);
	},

	render: function() {
		var m, s, self = this;

		m = new form.Map('dprive', _('DNS Privacy'),
			_('dprive forwards the router\'s DNS queries to DNS-over-TLS resolvers.'));

		s = m.section(form.NamedSection, 'main', schema.main.section, _('General settings'));
		MAIN_FIELDS.forEach(function(name) {
			addOption(s, name, schema.main.options[name]);
		});

		s = m.section(form.GridSection, schema.upstream.section, _('Upstream resolvers'),
			_('Tried in this order; drag a row to change it.'));
		s.anonymous = true;
		s.addremove = true;
		s.sortable = true;
		s.addbtntitle = _('Add empty upstream');
		UPSTREAM_FIELDS.forEach(function(name) {
			addOption(s, name, schema.upstream.options[name]);
		});

		var select = E('select', { 'class': 'cbi-input-select', 'id': 'dprive-preset' },
			PRESETS.map(function(p) {
				return E('option', { 'value': p.id }, [ '%s (%s, %s)'.format(p.name, p.address, p.auth_name) ]);
			}));

		return m.render().then(function(mapEl) {
			return E([], [
				mapEl,
				E('div', { 'class': 'cbi-section', 'id': 'dprive-presets' }, [
					E('h3', {}, [ _('Add a well-known resolver') ]),
					select, ' ',
					E('button', {
						'class': 'cbi-button cbi-button-add',
						'id': 'dprive-preset-add',
						'click': ui.createHandlerFn(self, 'handleAddPreset', m, select)
					}, [ _('Add preset') ])
				])
			]);
		});
	}
});
