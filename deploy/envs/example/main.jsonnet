// An instance of cfgupdate's own Kubernetes objects: copy this directory, set the repository,
// and let cfgupdate keep its own image current (the slot in images.json).
local images = import '../../images.json';
local service = import '../../lib/cfgupdate-service.libsonnet';

service.objects({
  repo: 'https://git.example.com/acme/cfg-app.git',
  branch: 'main',
  image: images.cfgupdate,
  env: { CFGUPDATE_GIT_USERNAME: 'x-access-token' },
  // Every event to a signed webhook (docs/notifications.md): two more keys of the Secret.
  secretKeys+: {
    'notify-urls': 'CFGUPDATE_NOTIFY_URLS_FILE',
    'notify-secret': 'CFGUPDATE_NOTIFY_SECRET_FILE',
  },
})
