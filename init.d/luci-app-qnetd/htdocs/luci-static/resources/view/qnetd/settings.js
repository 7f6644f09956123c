'use strict';
'require view';
'require form';

// Every option of /etc/config/qnetd (init.d/qnetd.config), validated as `qnetd run` validates
// what the init script passes it (src/settings.rs). Save & Apply commits the file; procd's
// reload trigger on config qnetd then restarts the arbiter with it.

// `list setting` keys, as upstream's -S KEY=VALUE, with the values qnetd accepts: [min, max]
// for decimal integers, or a checking function. Keep in step with SETTINGS in src/settings.rs
// (a test compares the keys).
var U32 = 4294967295, I32 = 2147483647;

function isBool(v) { return /^(on|yes|1|off|no|0)$/i.test(v); }
function isPath(v) { return v.length > 0; }
function isDecimal(v) {
	var m = /^\s*\+?(\d*)(?:\.(\d*))?(?:[eE][+-]?\d+)?$/.exec(v);
	if (!m || (m[1] + (m[2] || '')).length == 0)
		return false;
	var f = parseFloat(v);
	return f >= 1 && f <= 1000;
}

var SETTINGS = {
	listen_backlog: [1, I32],
	max_client_send_buffers: [2, U32],
	max_client_send_size: [16, U32],
	max_client_receive_size: [16, U32],
	nss_db_dir: isPath,
	cert_nickname: function() { return true; },
	heartbeat_interval_min: [1, U32],
	heartbeat_interval_max: [1, U32],
	dpd_enabled: isBool,
	dpd_interval: function() { return true; },
	dpd_interval_coefficient: isDecimal,
	lock_file: isPath,
	local_socket_file: isPath,
	local_socket_umask: function(v) { return v == '' || (/^\+?[0-7]+$/.test(v) && parseInt(v, 8) <= 511); },
	// A number, or a group name (which only the router's /etc/group can confirm).
	local_socket_gid: function(v) {
		return v == '' || v == '-1' || (/^\+?\d+$/.test(v) ? +v <= U32 : /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(v));
	},
	local_socket_backlog: [1, I32],
	ipc_max_clients: [0, U32],
	ipc_max_receive_size: [1024, U32],
	ipc_max_send_size: [1024, U32],
	keep_active_partition_tie_breaker: isBool,
	handshake_timeout: [0, U32],
	max_preinit_clients: [0, U32],
	max_preinit_per_address: [0, U32],
	max_clients_per_address: [0, U32],
	http_listen: function(v) { return v == '' || isHttpListen(v); }
};

// A decimal integer as qnetd reads it (leading blanks and a + allowed, nothing after the
// digits).
function intIn(v, range) {
	if (!/^\s*\+?\d+$/.test(v))
		return false;
	var n = parseInt(v, 10);
	return n >= range[0] && n <= range[1];
}

// ADDR:PORT with an IPv4 address, or [IPv6]:PORT (a numeric %scope allowed); port 1-65535.
function isHttpListen(v) {
	var m = /^(?:(\d{1,3}(?:\.\d{1,3}){3})|\[([0-9A-Fa-f:.]+)(?:%\d+)?\]):(\d{1,5})$/.exec(v);
	if (!m || +m[3] < 1 || +m[3] > 65535)
		return false;
	if (m[1])
		return m[1].split('.').every(function(o) { return /^(0|[1-9]\d*)$/.test(o) && +o <= 255; });
	return m[2].indexOf(':') >= 0;
}

// One `list setting` entry: KEY=VALUE[,KEY=VALUE...] (qnetd splits an entry at commas).
function checkSetting(entry) {
	var items = entry.split(',');
	for (var i = 0; i < items.length; i++) {
		var eq = items[i].indexOf('=');
		var key = (eq < 0 ? items[i] : items[i].substr(0, eq)).toLowerCase();
		var value = eq < 0 ? '' : items[i].substr(eq + 1);
		if (key == '')
			return _('empty setting name (expected KEY=VALUE[,KEY=VALUE...])');
		var rule = SETTINGS[key];
		if (!rule)
			return _('unknown setting "%s"; known: %s').format(key, Object.keys(SETTINGS).join(', '));
		var ok = Array.isArray(rule) ? intIn(value, rule) : rule(value);
		if (!ok)
			return _('invalid value "%s" for setting "%s"').format(value, key);
	}
	return true;
}

return view.extend({
	render: function() {
		var m, s, o;

		m = new form.Map('qnetd', _('Quorum arbiter: settings'),
			_('Save & Apply restarts the arbiter with these options. Connected clusters lose their third vote for the few seconds the restart takes.'));

		s = m.section(form.NamedSection, 'main', 'qnetd');
		s.addremove = false;

		o = s.option(form.Flag, 'enabled', _('Enabled'));
		o.default = '1';
		o.rmempty = false;

		o = s.option(form.Value, 'listen_address', _('Listen address'),
			_('Empty: every address (IPv6 dual-stack).'));
		o.datatype = 'or(ipaddr,hostname)';
		o.placeholder = _('all addresses');

		o = s.option(form.Value, 'port', _('Port'),
			_('pvecm qdevice setup always connects to 5403. Below 1024 the arbiter runs as root.'));
		o.datatype = 'port';
		o.placeholder = '5403';
		o.default = '5403';

		o = s.option(form.ListValue, 'tls', _('TLS'),
			_('required: every client uses TLS (Proxmox VE nodes do). on: clients choose; a client without TLS can join any cluster as any node. off: no TLS.'));
		o.value('required', _('required'));
		o.value('on', _('on'));
		o.value('off', _('off'));
		o.default = 'required';

		o = s.option(form.Flag, 'client_cert_required', _('Client certificate required'),
			_('TLS clients must present a certificate issued by this arbiter\'s CA.'));
		o.default = '1';
		o.rmempty = false;

		o = s.option(form.Value, 'max_clients', _('Maximum clients'),
			_('Empty: sized from the router\'s memory. 0: no limit.'));
		o.datatype = 'uinteger';
		o.placeholder = _('from memory');

		o = s.option(form.Flag, 'debug', _('Debug logging'));
		o.default = '0';
		o.rmempty = false;

		o = s.option(form.Value, 'http', _('HTTP health and metrics'),
			_('ADDR:PORT (IPv6 in brackets) serving /health, /metrics and /status.json, without authentication: bind it to a trusted address. Empty: off.'));
		o.placeholder = '192.168.1.1:5404';
		o.validate = function(section_id, value) {
			return (value == '' || isHttpListen(value)) ? true
				: _('Expecting ADDR:PORT, e.g. 192.168.1.1:5404 or [::1]:5404');
		};

		o = s.option(form.Value, 'user', _('Run as user'),
			_('root keeps root; the user must exist (qnetd install creates qnetd).'));
		o.placeholder = 'qnetd';
		o.validate = function(section_id, value) {
			return (value == '' || /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(value)) ? true
				: _('Expecting a user name');
		};

		o = s.option(form.Value, 'store', _('Certificate store'),
			_('pvecm reads qnetd-cacert.crt and cluster certificates from /etc/corosync/qnetd/nssdb: change it only for plain corosync.'));
		o.placeholder = '/etc/corosync/qnetd/nssdb';
		o.validate = function(section_id, value) {
			return (value == '' || value.charAt(0) == '/') ? true : _('Expecting an absolute path');
		};

		o = s.option(form.DynamicList, 'setting', _('Advanced settings'),
			_('KEY=VALUE as corosync-qnetd -S, e.g. heartbeat_interval_max=60000.'));
		o.validate = function(section_id, value) {
			return (value == null || value == '') ? true : checkSetting(value);
		};

		return m.render();
	}
});
