// Runs the LuCI views of init.d/luci-app-qnetd under node with stand-ins for the LuCI
// classes they require (view, rpc, poll, dom, ui, form, E, _, String.prototype.format), so a
// test can see what they render and call. Written for qnetd's tests from LuCI's documented
// behaviour and checked against the real luci-base in a browser: a string given as an
// element's only content is HTML, one in an array of children a text node (LuCI's
// dom.append, where even null becomes the text "null"); String.format's %h escapes with numeric
// entities and gives '' for null, %t is "1h 2m 5s", %d floors (0 for what is not a number);
// rpc.declare's `expect` picks the reply's key and falls back to the expected value when the
// key is missing or of another type; poll.add runs the function at once (LuCI starts its
// polling loop with a first step) and then every N seconds of a clock the test advances.
//
// usage: node harness.js VIEWS_DIR INPUT_JSON
// INPUT_JSON: {"fixtures": {"OBJECT.METHOD": reply, ...}, "poll_status": reply,
//              "settings": ["KEY=VALUE", ...], "http": ["ADDR:PORT", ...]}
// Prints one JSON object: the HTML each view rendered, the ubus calls made, the validators'
// verdicts (true or the message).
'use strict';

const fs = require('fs');
const path = require('path');

const dir = process.argv[2];
const input = JSON.parse(process.argv[3]);
const calls = [];

function esc(s) {
	if (s == null || typeof s == 'object' || typeof s == 'function')
		return '';
	return String(s).replace(/&/g, '&#38;').replace(/"/g, '&#34;').replace(/'/g, '&#39;')
		.replace(/</g, '&#60;').replace(/>/g, '&#62;');
}

function duration(ts) {
	ts = +ts || 0;
	let tm = 0, th = 0, td = 0;
	if (ts > 59) { tm = Math.floor(ts / 60); ts = ts % 60; }
	if (tm > 59) { th = Math.floor(tm / 60); tm = tm % 60; }
	if (th > 23) { td = Math.floor(th / 24); th = th % 24; }
	return (td > 0 ? td + 'd ' : '') + th + 'h ' + tm + 'm ' + Math.floor(ts) + 's';
}

String.prototype.format = function() {
	const args = arguments;
	let i = 0;
	return this.replace(/%(\.\d+)?([sdhtf%])/g, function(m, prec, c) {
		if (c == '%')
			return '%';
		const a = args[i++];
		switch (c) {
		case 's': return String(a);
		case 'd': return Math.floor(+a || 0).toFixed(0);
		case 'h': return esc(a);
		case 't': return duration(a);
		case 'f': return prec ? (+a || 0).toFixed(+prec.slice(1)) : String(+a || 0);
		}
	});
};

function isNode(x) { return x && typeof x == 'object' && x.tag; }

// An element, or a text or HTML child already made from a string.
function isChild(x) { return isNode(x) || (x != null && (x.text != null || x.html != null)); }

function children(c) {
	if (c == null)
		return [];
	if (Array.isArray(c))
		return c.map(function(x) { return isChild(x) ? x : { text: `${x}` }; });
	return [isChild(c) ? c : { html: `${c}` }];
}

function E(tag, attrs, kids) {
	if (typeof attrs == 'string' || Array.isArray(attrs) || isNode(attrs)) {
		kids = attrs;
		attrs = {};
	}
	return { tag: tag, attrs: attrs || {}, children: children(kids) };
}

function html(n) {
	if (n.html != null)
		return n.html; // the only child: LuCI sets it as innerHTML
	if (n.text != null)
		return esc(n.text); // a text node
	if (!isNode(n))
		return String(n);
	const attrs = Object.keys(n.attrs).filter(function(k) { return typeof n.attrs[k] != 'function'; })
		.map(function(k) { return ' ' + k + '="' + n.attrs[k] + '"'; }).join('');
	return '<' + n.tag + attrs + '>' + n.children.map(html).join('') + '</' + n.tag + '>';
}

function find(n, pred, out) {
	out = out || [];
	if (isNode(n)) {
		if (pred(n))
			out.push(n);
		n.children.forEach(function(c) { find(c, pred, out); });
	}
	return out;
}

const dom = { content: function(node, kids) { node.children = children(kids); return node; } };

function cbi_update_table(table, rows, placeholder) {
	table.children = table.children.slice(0, 1);
	if (!rows.length)
		table.children.push(E('tr', { 'class': 'tr placeholder' }, E('td', { 'class': 'td' }, placeholder)));
	rows.forEach(function(r) {
		table.children.push(E('tr', { 'class': 'tr' }, r.map(function(c) { return E('td', { 'class': 'td' }, c); })));
	});
}

// The page's clock: Date.now() is what the test sets.
let clock = 1000000;
Date.now = function() { return clock; };

let polls = [];
const poll = {
	add: function(fn, every) {
		polls.push({ fn: fn, every: every });
		fn();
	}
};

const rpc = {
	declare: function(opts) {
		return function() {
			const args = Array.prototype.slice.call(arguments);
			calls.push({ object: opts.object, method: opts.method, args: args, params: opts.params || [] });
			const key = opts.object + '.' + opts.method;
			if (!(key in input.fixtures))
				return Promise.reject(new Error('no fixture ' + key));
			let reply = input.fixtures[key];
			const type = Object.prototype.toString;
			for (const want in opts.expect || {}) {
				if (reply != null && want != '')
					reply = reply[want];
				if (reply == null || type.call(reply) != type.call(opts.expect[want]))
					reply = opts.expect[want];
				break;
			}
			return Promise.resolve(reply);
		};
	}
};

const modals = [], notes = [];
const ui = {
	showModal: function(title, kids) { modals.push(E('div', {}, [E('h4', {}, title)].concat(children(kids)))); },
	hideModal: function() {},
	addNotification: function(title, body, kind) { notes.push({ html: html(body), kind: kind }); },
	createHandlerFn: function(ctx, fn) {
		const bound = Array.prototype.slice.call(arguments, 2);
		return function(ev) {
			const f = typeof fn == 'string' ? ctx[fn] : fn;
			return f.apply(ctx, bound.concat([ev]));
		};
	}
};

const options = [];
function Section() {}
Section.prototype.option = function(cls, name, title, descr) {
	const o = { cls: cls, name: name, title: title, descr: descr, values: [],
		value: function(v) { this.values.push(v); } };
	options.push(o);
	return o;
};
const form = {
	Map: function(config, title, descr) { this.config = config; this.title = title; },
	NamedSection: 'NamedSection', Flag: 'Flag', Value: 'Value', ListValue: 'ListValue',
	DynamicList: 'DynamicList'
};
form.Map.prototype.section = function() { return new Section(); };
form.Map.prototype.render = function() { return Promise.resolve(E('div', { 'class': 'cbi-map' }, this.title)); };

const L = {
	resolveDefault: function(p, d) { return Promise.resolve(p).then(function(v) { return v; }, function() { return d; }); },
	bind: function(fn, ctx) { return fn.bind(ctx); }
};
const view = { extend: function(proto) { return proto; } };
function _(s) { return s; }

function load(name) {
	const src = fs.readFileSync(path.join(dir, name), 'utf8');
	const f = new Function('view', 'rpc', 'poll', 'dom', 'ui', 'form', 'L', 'E', '_', 'cbi_update_table', src);
	return f(view, rpc, poll, dom, ui, form, L, E, _, cbi_update_table);
}

async function renderView(name) {
	const v = load(name);
	const data = v.load ? await v.load() : null;
	const node = await v.render(data);
	return { view: v, node: node };
}

async function main() {
	const out = {};

	// Status: the first render, then one poll with another answer.
	polls = [];
	const st = await renderView('status.js');
	out.status_html = html(st.node);
	out.status_calls = calls.splice(0);
	out.poll_every = polls.map(function(p) { return p.every; });
	input.fixtures['qnetd.status'] = input.poll_status;
	clock += polls[0].every * 1000;
	await polls[0].fn();
	out.status_after_poll_html = html(st.node);
	out.poll_calls = calls.splice(0);

	// Certificates: render, press Revoke on the first revocable row, confirm.
	const cv = await renderView('certificates.js');
	out.certificates_html = html(cv.node);
	out.certificates_calls = calls.splice(0);
	const revoke = find(cv.node, function(n) { return n.tag == 'button' && typeof n.attrs.click == 'function'; });
	out.revoke_buttons = revoke.length;
	if (revoke.length) {
		await revoke[0].attrs.click({});
		out.modal_html = html(modals[0]);
		const confirm = find(modals[0], function(n) {
			return n.tag == 'button' && /negative/.test(n.attrs['class'] || '');
		});
		await confirm[0].attrs.click({});
		out.revoke_calls = calls.splice(0);
		out.notifications = notes;
		out.certificates_after_revoke_html = html(cv.node);
	}

	// Settings: the fields, and what their validators say.
	const sv = load('settings.js');
	await sv.render();
	out.settings_options = options.map(function(o) { return o.name; });
	const byName = {};
	options.forEach(function(o) { byName[o.name] = o; });
	out.setting_verdicts = input.settings.map(function(v) { return byName.setting.validate('main', v); });
	out.http_verdicts = input.http.map(function(v) { return byName.http.validate('main', v); });
	out.tls_values = byName.tls.values;

	process.stdout.write(JSON.stringify(out));
}

main().catch(function(e) {
	process.stderr.write(String(e && e.stack || e) + '\n');
	process.exit(1);
});
