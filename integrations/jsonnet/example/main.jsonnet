// A target's entrypoint with cfgupdate's deploy-report hooks added to its objects.
// Argo CD passes cfgupdate_target and cfgupdate_revision as ext vars (docs/integrations.md);
// cfgupdate's own render (cfgupdate.toml `ext_vars`) passes them too.
local cfgupdate = import '../cfgupdate.libsonnet';

local image = 'registry.example.com/shop/api:7d1043473d55bfa90e8530d35801d4e381bc69f0@sha256:4d8b6f3c1f0e0a2b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b';

[
  {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'api', namespace: 'shop' },
    spec: {
      selector: { matchLabels: { app: 'api' } },
      template: {
        metadata: { labels: { app: 'api' } },
        spec: { containers: [{ name: 'api', image: image }] },
      },
    },
  },
] + cfgupdate.fromExtVars('http://cfgupdate.cfgupdate.svc:8080', { namespace: 'shop' })
