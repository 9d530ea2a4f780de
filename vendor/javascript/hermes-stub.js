// Inlined by hermes_connect_tag as a classic script, before the module client has loaded:
// `window.Hermes.subscribe(type, callback)` works at once, from any script. Subscriptions are
// queued until the client connects (hermes.js `install`), then handed to it; later calls go
// straight to the client. So is `window.Hermes.onGap = fn` (what to do when a reconnect missed
// more than the history replays); `presence()` needs the client and rejects before it.
// Lines starting with // are dropped when inlined.
(function (w) {
  if (w.Hermes) return;
  var queue = [], client = null, onGap = null;
  w.Hermes = {
    get onGap() { return client ? client.onGap : onGap; },
    set onGap(fn) { if (client) client.onGap = fn; else onGap = fn; },
    presence: function () {
      return client ? client.presence() : Promise.reject(new Error("hermes: not connected yet"));
    },
    subscribe: function (type, callback) {
      if (client) return client.subscribe(type, callback);
      var entry = { type: type, callback: callback, off: null };
      queue.push(entry);
      return function () {
        if (entry.off) return entry.off();
        var i = queue.indexOf(entry);
        if (i >= 0) queue.splice(i, 1);
      };
    },
    send: function (data) { return client ? client.send(data) : false; },
    close: function () { if (client) client.close(); },
    __hermesInstall: function (socket) {
      client = socket;
      if (onGap && !socket.onGap) socket.onGap = onGap;
      queue.splice(0).forEach(function (e) { e.off = socket.subscribe(e.type, e.callback); });
    }
  };
})(window);
