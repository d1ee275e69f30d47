/* Grid Map, comparison page: style and label of the community polygons (dashboard/pages/compare.py).
 * The colour and the value text are computed in Python (compare_views, layers.colors.sequential_colors) and
 * travel in each feature's properties; nothing is computed here. */
window.gridmap = Object.assign({}, window.gridmap, {
    styleCompare: function (feature) {
        var p = feature.properties || {};
        return {fillColor: p.color || "#f1f3f5", fillOpacity: 0.85, color: "#2f4b7c", weight: 1.5, opacity: 1,
                className: "gm-cmp-community gm-cmp-community-" + p.id};
    },
    labelCompare: function (feature, layer) {
        var p = feature.properties || {};
        var esc = function (s) {
            return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, function (c) {
                return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
            });
        };
        layer.bindTooltip("<b>" + esc(p.community) + "</b><br>" + esc(p.text), {
            permanent: true, direction: "center", className: "gm-cmp-label", opacity: 1, interactive: false
        });
    }
});
