// Inlined by hermes_connect_tag as a classic script, before the module client has loaded:
// `window.Hermes.subscribe(type, callback)` and `window.Hermes.stream(signedName, callback,
// options)` work at once, from any script. Both are queued until the client connects
// (hermes.js `install`), then handed to it; later calls go straight to the client; the
// unsubscribe functions they return work before and after. So is `window.Hermes.onGap = fn`
// (what to do when a reconnect missed more than the history replays); `presence()` and
// `streamPresence()` need the client and reject before it.
// Lines starting with // are dropped when inlined.
(function (w) {
  if (w.Hermes) return;
  var queue = [], client = null, onGap = null;
  function queued(entry, hand) {
    if (client) return hand(client);
    entry.hand = hand;
    entry.off = null;
    queue.push(entry);
    return function () {
      if (entry.off) return entry.off();
      var i = queue.indexOf(entry);
      if (i >= 0) queue.splice(i, 1);
    };
  }
  w.Hermes = {
    get onGap() { return client ? client.onGap : onGap; },
    set onGap(fn) { if (client) client.onGap = fn; else onGap = fn; },
    presence: function () {
      return client ? client.presence() : Promise.reject(new Error("hermes: not connected yet"));
    },
    streamPresence: function (name) {
      return client ? client.streamPresence(name) : Promise.reject(new Error("hermes: not connected yet"));
    },
    subscribe: function (type, callback) {
      return queued({}, function (c) { return c.subscribe(type, callback); });
    },
    stream: function (name, callback, options) {
      if (typeof name !== "string" || !name || typeof callback !== "function") {
        throw new TypeError("hermes: stream() needs a signed stream name and a callback");
      }
      return queued({}, function (c) { return c.stream(name, callback, options); });
    },
    send: function (data) { return client ? client.send(data) : false; },
    close: function () { if (client) client.close(); },
    __hermesInstall: function (socket) {
      client = socket;
      if (onGap && !socket.onGap) socket.onGap = onGap;
      queue.splice(0).forEach(function (e) { e.off = e.hand(socket); });
    }
  };
})(window);
