// cfgupdate.libsonnet: Argo CD hook Jobs that tell cfgupdate what a target deployed.
//
// Add `cfgupdate.hooks(...)` (or `cfgupdate.fromExtVars(...)`) to the objects a target's
// entrypoint returns. Argo CD runs the PostSync Job once the sync succeeded and every resource
// is healthy; it POSTs `{"target": ..., "revision": ..., "status": "succeeded"}` to
// cfgupdate's `/v1/deployments`, and cfgupdate promotes the deployed images when the whole wave
// has reported. A SyncFail Job reports `"failed"` the same way.
//
// The revision must be the commit Argo CD synced: Argo CD puts it in the build environment
// variable ARGOCD_APP_REVISION, which reaches Jsonnet only as an ext var (or TLA) set in the
// Application:
//
//   spec:
//     source:
//       directory:
//         jsonnet:
//           extVars:
//             - name: cfgupdate_revision
//               value: $ARGOCD_APP_REVISION
//             - name: cfgupdate_target
//               value: staging-us
//
// See docs/integrations.md. Works with go-jsonnet (what Argo CD runs) and jrsonnet.
{
  // The ext var names `fromExtVars` reads.
  revisionVar:: 'cfgupdate_revision',
  targetVar:: 'cfgupdate_target',

  // The defaults every hook starts from; override any of them with `options`.
  defaults:: {
    // Where the Jobs run; null leaves it to the Application's destination namespace.
    namespace: null,
    // The Secret (in the Job's namespace) holding the `deploy` scope's bearer token.
    tokenSecret: 'cfgupdate-deploy-token',
    tokenKey: 'token',
    // Any image with a POSIX shell and curl 7.76 or later. Pin it by digest in production.
    image: 'docker.io/curlimages/curl:8.11.1',
    // BeforeHookCreation keeps the last run (and its log) until the next sync replaces it.
    deletePolicy: 'BeforeHookCreation',
    // Also report failed syncs (a SyncFail hook), so a bad image set is never promoted.
    reportFailures: true,
    // How long one report may take, retries included.
    deadlineSeconds: 300,
    // Attempts when cfgupdate is unreachable or answers 429/503, waiting `retrySeconds`,
    // then twice that, and so on between them.
    attempts: 6,
    retrySeconds: 5,
    labels: { 'app.kubernetes.io/name': 'cfgupdate-report', 'app.kubernetes.io/part-of': 'cfgupdate' },
  },

  // The JSON body of `POST /v1/deployments`.
  report(target, revision, status='succeeded'):: {
    target: target,
    revision: revision,
    status: status,
  },

  // A Job name for `prefix` and `target` that is unique per target and a valid DNS label
  // (lower case letters, digits and '-', at most 63 characters), so that two targets whose
  // hooks run in one namespace never replace each other's Job. Target names may hold '_'
  // and '.', which Job names may not; a name that would be too long keeps its start and ends
  // in a hash of the whole target name.
  jobName(prefix, target)::
    local cleaned = std.join('', [if std.member('_.', c) then '-' else c for c in std.stringChars(target)]);
    local whole = prefix + '-' + cleaned;
    if std.length(whole) <= 63 && cleaned == target then whole
    else std.substr(whole, 0, std.min(std.length(whole), 52)) + '-' + std.substr(std.md5(target), 0, 10),

  // One hook Job: `hook` is an Argo CD hook type (PostSync, SyncFail), `status` what it reports.
  job(name, hook, status, target, revision, url, options={})::
    local o = $.defaults + options;
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {
        name: name,
        labels: o.labels,
        annotations: {
          'argocd.argoproj.io/hook': hook,
          'argocd.argoproj.io/hook-delete-policy': o.deletePolicy,
        },
      } + (if o.namespace == null then {} else { namespace: o.namespace }),
      spec: {
        backoffLimit: 2,
        activeDeadlineSeconds: o.deadlineSeconds,
        template: {
          metadata: { labels: o.labels },
          spec: {
            restartPolicy: 'Never',
            automountServiceAccountToken: false,
            securityContext: { runAsNonRoot: true, runAsUser: 100, seccompProfile: { type: 'RuntimeDefault' } },
            containers: [{
              name: 'report',
              image: o.image,
              // The token goes to curl on stdin (`--header @-`), never on a command line.
              // Retried only when a retry can help: no connection (curl's code 000), 429, or
              // 503 (cfgupdate's "remote unavailable, nothing was done"). Any other answer is
              // final: a 4xx names a fault of the report, a 500 or a 502 (the remote declined
              // the push) will not pass by asking again. The answer's body goes to the log.
              command: ['/bin/sh', '-ec', |||
                attempt=1
                while :; do
                  code=$(printf 'Authorization: Bearer %s\n' "$CFGUPDATE_DEPLOY_TOKEN" |
                    curl --silent --show-error --max-time 30 --output /dev/stderr \
                      --write-out '%{http_code}' \
                      --header @- --header 'Content-Type: application/json' \
                      --data-raw "$CFGUPDATE_REPORT" "$CFGUPDATE_URL/v1/deployments") || true
                  case "$code" in
                    2??) echo; echo "cfgupdate: report accepted ($code)"; exit 0 ;;
                    000|429|503) ;;
                    *) echo; echo "cfgupdate: report refused ($code), not retried" >&2; exit 1 ;;
                  esac
                  if [ "$attempt" -ge "$CFGUPDATE_ATTEMPTS" ]; then
                    echo "cfgupdate: no answer after $attempt attempts (last: $code)" >&2
                    exit 1
                  fi
                  sleep $((attempt * CFGUPDATE_RETRY_SECONDS))
                  attempt=$((attempt + 1))
                done
              |||],
              env: [
                { name: 'CFGUPDATE_URL', value: url },
                { name: 'CFGUPDATE_REPORT', value: std.manifestJsonMinified($.report(target, revision, status)) },
                { name: 'CFGUPDATE_ATTEMPTS', value: std.toString(o.attempts) },
                { name: 'CFGUPDATE_RETRY_SECONDS', value: std.toString(o.retrySeconds) },
                {
                  name: 'CFGUPDATE_DEPLOY_TOKEN',
                  valueFrom: { secretKeyRef: { name: o.tokenSecret, key: o.tokenKey } },
                },
              ],
              resources: { requests: { cpu: '10m', memory: '16Mi' }, limits: { memory: '64Mi' } },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
            }],
          },
        },
      },
    },

  // The hook Jobs for `target` deployed at `revision`, reporting to the service at `url`
  // (e.g. 'http://cfgupdate.cfgupdate.svc:8080'): an array to add to the target's objects.
  hooks(target, revision, url, options={})::
    local o = $.defaults + options;
    [$.job($.jobName('cfgupdate-deployed', target), 'PostSync', 'succeeded', target, revision, url, options)]
    + (if o.reportFailures then [$.job($.jobName('cfgupdate-sync-failed', target), 'SyncFail', 'failed', target, revision, url, options)] else []),

  // `hooks` with the target and revision taken from the ext vars `cfgupdate_target` and
  // `cfgupdate_revision` (set in the Argo CD Application as shown above).
  fromExtVars(url, options={})::
    $.hooks(std.extVar($.targetVar), std.extVar($.revisionVar), url, options),
}
