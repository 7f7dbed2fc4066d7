// Images of the staging wave. cfgupdate rewrites only the strings it is told to;
// comments and formatting stay as they are.
{
  // A field of the object this file evaluates to is a slot for the service of its name.
  api: 'registry.example.com/team/api:0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c@sha256:0000000000000000000000000000000000000000000000000000000000000000',

  // A marker comment names the slot explicitly, here in parts.
  web: {
    name: 'registry.example.com/team/web',  // cfgupdate: web:name
    tag: '0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c',  // cfgupdate: web:tag
    digest: 'sha256:1111111111111111111111111111111111111111111111111111111111111111',  // cfgupdate: web:digest
  },
}
