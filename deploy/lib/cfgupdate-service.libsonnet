// cfgupdate-service.libsonnet: the Kubernetes objects that run `cfgupdate serve`.
//
//   local service = import 'cfgupdate-service.libsonnet';
//   service.objects({ repo: 'https://git.example.com/acme/cfg-app.git', image: images.cfgupdate })
//
// Every parameter and its default is in `defaults` below. The objects: a ServiceAccount (no API
// access: cfgupdate never talks to Kubernetes), the Deployment, the Service other components
// reach it at (http://cfgupdate.cfgupdate.svc:8080, the address docs/integrations.md uses), a
// NetworkPolicy and a PodDisruptionBudget. Secrets are referenced, never created: every secret
// reaches cfgupdate as a file of a mounted Secret through its `CFGUPDATE_*_FILE` variable.
{
  defaults:: {
    name: 'cfgupdate',
    namespace: 'cfgupdate',
    // The image (scripts/image.sh builds it): pin it by digest.
    image: error 'cfgupdate-service: `image` is required (the image scripts/image.sh built, pushed to your registry, pinned by digest)',
    // The config repository and its branch (default: the branch the remote's HEAD names).
    repo: error 'cfgupdate-service: `repo` is required (the config repository URL)',
    branch: null,
    // One replica is enough; several share the remote safely (each push is a compare-and-swap
    // on the commit it was built on): see docs/deploy.md before raising it.
    replicas: 1,
    // The Secret (in `namespace`) whose keys hold the credentials, and which keys it has: each
    // listed key becomes the file behind one CFGUPDATE_*_FILE variable. Leave out what you
    // do not use (a scope without a credential refuses every request).
    secretName: 'cfgupdate',
    secretKeys: {
      'ci-token': 'CFGUPDATE_CI_TOKEN_FILE',
      'deploy-token': 'CFGUPDATE_DEPLOY_TOKEN_FILE',
      'admin-token': 'CFGUPDATE_ADMIN_TOKEN_FILE',
      'state-key': 'CFGUPDATE_STATE_KEY_FILE',
      'git-token': 'CFGUPDATE_GIT_TOKEN_FILE',
    },
    // Keys the same Secret may also hold, for what is optional: add them with
    // `secretKeys+: { 'notify-secret': 'CFGUPDATE_NOTIFY_SECRET_FILE' }` (docs/deploy.md):
    //   'notify-urls'       CFGUPDATE_NOTIFY_URLS_FILE        webhooks for every event (docs/notifications.md)
    //   'notify-secret'     CFGUPDATE_NOTIFY_SECRET_FILE      their signing secret, `whsec_<base64>`
    //   'slack-webhook-url' CFGUPDATE_SLACK_WEBHOOK_URL_FILE  a Slack message for each event
    //   'ci-hmac-secret'    CFGUPDATE_CI_HMAC_SECRET_FILE     GitHub webhooks signed for the `ci` scope
    //   'ci-webhook-secret' CFGUPDATE_CI_WEBHOOK_SECRET_FILE  Standard Webhooks signed for the `ci` scope
    //   'ssh-key'           CFGUPDATE_SSH_KEY                 the key for ssh remotes (the variable names a file)
    //   'ssh-known-hosts'   CFGUPDATE_SSH_KNOWN_HOSTS         the host keys it accepts (a file too)
    // Extra environment variables (plain values), e.g. CFGUPDATE_GIT_USERNAME.
    env: {},
    resources: {
      requests: { cpu: '50m', memory: '64Mi' },
      limits: { memory: '512Mi' },
    },
    // Who may call the service: namespaces by name (Argo CD's hooks and notifications, CI
    // runners inside the cluster) and pods labelled `cfgupdate.io/client: "true"` anywhere.
    clientNamespaces: ['argocd'],
    // Where the service may connect: DNS, and the git remote and notification hooks on these
    // ports, to any address (the remote usually lives outside the cluster).
    egressPorts: [443, 22, 9418],
    labels: { 'app.kubernetes.io/name': 'cfgupdate', 'app.kubernetes.io/part-of': 'cfgupdate' },
  },

  objects(params)::
    local p = $.defaults + params;
    local selector = { 'app.kubernetes.io/name': p.labels['app.kubernetes.io/name'], 'app.kubernetes.io/instance': p.name };
    local labels = p.labels + selector;
    local meta(kind) = { name: p.name, namespace: p.namespace, labels: labels };
    local secretDir = '/var/run/secrets/cfgupdate';
    local port = 8080;
    [
      {
        apiVersion: 'v1',
        kind: 'ServiceAccount',
        metadata: meta('ServiceAccount'),
        automountServiceAccountToken: false,
      },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: meta('Deployment'),
        spec: {
          replicas: p.replicas,
          selector: { matchLabels: selector },
          // Never two old pods down at once; a new pod is ready before an old one goes.
          strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
          template: {
            metadata: { labels: labels },
            spec: {
              serviceAccountName: p.name,
              automountServiceAccountToken: false,
              // Time to finish the push under way when the pod is stopped.
              terminationGracePeriodSeconds: 30,
              securityContext: {
                runAsNonRoot: true,
                runAsUser: 65532,
                runAsGroup: 65532,
                fsGroup: 65532,
                seccompProfile: { type: 'RuntimeDefault' },
              },
              containers: [{
                name: 'cfgupdate',
                image: p.image,
                args: ['serve', '--listen', '0.0.0.0:%d' % port, '--repo', p.repo]
                      + (if p.branch == null then [] else ['--branch', p.branch]),
                ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }],
                env: [
                  { name: variable, value: secretDir + '/' + key }
                  for key in std.objectFields(p.secretKeys)
                  for variable in [p.secretKeys[key]]
                ] + [
                  { name: 'CFGUPDATE_CACHE_DIR', value: '/var/cache/cfgupdate' },
                ] + [
                  { name: name, value: p.env[name] }
                  for name in std.objectFields(p.env)
                ],
                // Up: the process answers. Ready: the remote was reached recently and the
                // branch's own configuration is sound (a broken cfgupdate.toml makes the pod
                // not ready, so announcements wait instead of failing).
                livenessProbe: {
                  httpGet: { path: '/healthz', port: 'http' },
                  periodSeconds: 10,
                  timeoutSeconds: 5,
                  failureThreshold: 6,
                },
                readinessProbe: {
                  httpGet: { path: '/readyz', port: 'http' },
                  periodSeconds: 5,
                  timeoutSeconds: 5,
                  failureThreshold: 2,
                },
                startupProbe: {
                  httpGet: { path: '/healthz', port: 'http' },
                  periodSeconds: 2,
                  failureThreshold: 30,
                },
                resources: p.resources,
                securityContext: {
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
                volumeMounts: [
                  { name: 'cache', mountPath: '/var/cache/cfgupdate' },
                  { name: 'tmp', mountPath: '/tmp' },
                  { name: 'secrets', mountPath: secretDir, readOnly: true },
                ],
              }],
              volumes: [
                // The cache of the config repository: rebuilt from the remote when lost.
                { name: 'cache', emptyDir: { sizeLimit: '2Gi' } },
                { name: 'tmp', emptyDir: { sizeLimit: '256Mi' } },
                { name: 'secrets', secret: { secretName: p.secretName, defaultMode: std.parseOctal('0440') } },
              ],
            },
          },
        },
      },
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: meta('Service'),
        spec: {
          selector: selector,
          ports: [{ name: 'http', port: port, targetPort: 'http', protocol: 'TCP' }],
        },
      },
      {
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: meta('NetworkPolicy'),
        spec: {
          podSelector: { matchLabels: selector },
          policyTypes: ['Ingress', 'Egress'],
          ingress: [{
            from: [
              { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } } }
              for namespace in p.clientNamespaces
            ] + [
              { namespaceSelector: {}, podSelector: { matchLabels: { 'cfgupdate.io/client': 'true' } } },
            ],
            ports: [{ port: port, protocol: 'TCP' }],
          }],
          egress: [
            {
              ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }],
            },
            {
              ports: [{ port: port, protocol: 'TCP' } for port in p.egressPorts],
            },
          ],
        },
      },
      {
        apiVersion: 'policy/v1',
        kind: 'PodDisruptionBudget',
        metadata: meta('PodDisruptionBudget'),
        spec: {
          selector: { matchLabels: selector },
          // A drain may take one pod at a time; with one replica it is not blocked (a
          // minAvailable of 1 would keep the node from ever draining).
          maxUnavailable: 1,
        },
      },
    ],
}
