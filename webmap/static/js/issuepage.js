/*
 * The issue page works as plain HTML forms; this adds a "copy" button for the reporter's private link and
 * keeps a double tap from sending a form twice.
 */
(function (root) {
    "use strict";

    function init(map, cfg) {
        var copy = document.getElementById("copy-link");
        var link = document.getElementById("private-link-text");
        if (copy && link) {
            copy.hidden = false;
            copy.addEventListener("click", function () {
                var status = document.getElementById("copy-status");
                link.select();
                var done = function () { status.textContent = "✓"; };
                if (navigator.clipboard && root.isSecureContext) {
                    navigator.clipboard.writeText(link.value).then(done, function () { document.execCommand("copy"); done(); });
                } else {
                    document.execCommand("copy");
                    done();
                }
            });
        }
        Array.prototype.forEach.call(document.querySelectorAll(".ip form"), function (form) {
            var sent = false;
            form.addEventListener("submit", function (e) {
                if (sent) { e.preventDefault(); return; }
                sent = true;
            });
        });
        root.addEventListener("pageshow", function (e) { if (e.persisted) { root.location.reload(); } });
        return {map: map, crs: cfg.crs};
    }

    root.IssuePage = {init: init};
})(window);
