'use strict';
'require view';
'require rpc';
'require ui';
'require dom';

// The certificate store (ubus qnetd certificates), the daemon's health verdict (qnetd health:
// expiring certificates show there), and revoking a cluster's certificates (qnetd revoke,
// which also makes the daemon drop the nodes connected with one). Names from the store are
// escaped with %h: element content is HTML in LuCI.

var callCertificates = rpc.declare({
	object: 'qnetd',
	method: 'certificates',
	expect: { '': {} }
});

var callHealth = rpc.declare({
	object: 'qnetd',
	method: 'health',
	expect: { '': {} }
});

var callRevoke = rpc.declare({
	object: 'qnetd',
	method: 'revoke',
	params: [ 'cluster' ],
	expect: { '': {} }
});

function expiry(c) {
	var left = c.days_left < 0
		? _('expired %d days ago').format(-c.days_left)
		: _('%d days left').format(c.days_left);
	return '%h (%s)'.format(c.not_after_date, left);
}

function serverTable(certs) {
	var rows = [[_('Store'), '%h'.format(certs.store || '?')]];
	[[_('CA'), certs.ca], [_('Server certificate'), certs.server]].forEach(function(r) {
		rows.push([r[0], r[1]
			? _('serial %h, expires %s, SHA-256 %s').format(r[1].serial, expiry(r[1]),
				'<code>%h</code>'.format(r[1].sha256))
			: E('em', _('missing'))]);
	});
	return E('table', { 'class': 'table' }, rows.map(function(r) {
		return E('tr', { 'class': 'tr' }, [
			E('td', { 'class': 'td left', 'width': '33%' }, r[0]),
			E('td', { 'class': 'td left' }, r[1])
		]);
	}));
}

return view.extend({
	load: function() {
		return Promise.all([
			L.resolveDefault(callCertificates(), { error: _('no answer from ubus object qnetd') }),
			L.resolveDefault(callHealth(), {})
		]);
	},

	handleRevoke: function(name, ev) {
		var view = this;
		ui.showModal(_('Revoke the certificates of cluster %h?').format(name), [
			E('p', _('Every certificate issued for cluster %h is revoked, and the arbiter drops its nodes now. The cluster gets no third vote from here until it is set up again (pvecm qdevice remove, then setup).').format(name)),
			E('div', { 'class': 'right' }, [
				E('button', { 'class': 'btn', 'click': ui.hideModal }, _('Cancel')),
				' ',
				E('button', {
					'class': 'btn cbi-button-negative',
					'click': ui.createHandlerFn(view, function() {
						return callRevoke(name).then(function(res) {
							ui.hideModal();
							if (!res || !res.ok)
								ui.addNotification(null, E('p', _('Revoking failed: %h').format((res && res.error) || '?')), 'danger');
							else
								ui.addNotification(null, E('p', _('Revoked %d certificate(s) of cluster %h.').format(res.revoked, name)), 'info');
							return view.reloadData();
						});
					})
				}, _('Revoke'))
			])
		]);
	},

	reloadData: function() {
		var view = this;
		return this.load().then(function(data) {
			dom.content(view.root, view.renderBody(data));
		});
	},

	renderBody: function(data) {
		var certs = data[0], health = data[1], view = this;
		var body = [];
		if (health.status == 'fail')
			body.push(E('p', { 'class': 'alert-message warning' }, _('Health: %h').format(health.reason)));
		else if (health.status == 'ok')
			body.push(E('p', {}, E('span', { 'class': 'label success' }, _('Health: ok'))));
		if (certs.error) {
			body.push(E('p', { 'class': 'alert-message warning' }, '%h'.format(certs.error)));
			return E('div', {}, body);
		}
		body.push(E('div', { 'class': 'cbi-section' }, [E('h3', _('CA and server')), serverTable(certs)]));

		var table = E('table', { 'class': 'table' }, [
			E('tr', { 'class': 'tr table-titles' }, [
				E('th', { 'class': 'th' }, _('Cluster')),
				E('th', { 'class': 'th' }, _('Serial')),
				E('th', { 'class': 'th' }, _('Expires')),
				E('th', { 'class': 'th' }, _('In use')),
				E('th', { 'class': 'th' }, _('Revoked')),
				E('th', { 'class': 'th cbi-section-actions' }, '')
			])
		]);
		var clusters = certs.clusters || [];
		cbi_update_table(table, clusters.map(function(c) {
			var revocable = !c.revoked && c.in_use;
			return [
				'%h'.format(c.name),
				'%h'.format(c.serial),
				expiry(c),
				c.in_use ? _('yes') : _('no (replaced)'),
				c.revoked ? _('yes, %s').format(new Date(c.revoked_at * 1000).toLocaleString()) : _('no'),
				revocable ? E('button', {
					'class': 'btn cbi-button-negative',
					'click': ui.createHandlerFn(view, 'handleRevoke', c.name)
				}, _('Revoke')) : ''
			];
		}), E('em', _('No cluster certificate has been issued yet.')));
		body.push(E('div', { 'class': 'cbi-section' }, [E('h3', _('Cluster certificates')), table]));
		return E('div', {}, body);
	},

	render: function(data) {
		this.root = E('div', {}, this.renderBody(data));
		return E('div', {}, [
			E('h2', _('Quorum arbiter: certificates')),
			this.root
		]);
	},

	handleSaveApply: null,
	handleSave: null,
	handleReset: null
});
