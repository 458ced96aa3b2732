import { z } from 'zod';
import type { ResolvedOptions } from './options.js';
import type { RouteSpec } from './route-spec.js';
import { COMPONENT_SCHEMAS } from './schemas.js';

type JsonObject = Record<string, unknown>;

export interface OpenApiBuilder {
  /** Register the routes to document (the same objects the router registers). */
  setRoutes(routes: RouteSpec[]): void;
  /** The OpenAPI 3.1 document, with `servers` set to the mount path. */
  document(baseUrl: string): JsonObject;
}

const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** JSON Schema (draft 2020-12) of every named schema, as OpenAPI components. */
function buildComponents(): {
  schemas: Record<string, JsonObject>;
  registry: z.core.$ZodRegistry<{ id: string }>;
} {
  const registry = z.registry<{ id: string }>();
  for (const [schema, id] of COMPONENT_SCHEMAS) registry.add(schema, { id });
  const converted = z.toJSONSchema(registry, {
    target: 'draft-2020-12',
    metadata: registry,
    uri: (id) => `#/components/schemas/${id}`,
    unrepresentable: 'any',
  }) as { schemas: Record<string, JsonObject> };
  const schemas: Record<string, JsonObject> = {};
  for (const [id, schema] of Object.entries(converted.schemas)) {
    const { $schema: _schema, $id: _id, ...rest } = schema;
    schemas[id] = rest;
  }
  return { schemas, registry };
}

export function createOpenApiBuilder(options: ResolvedOptions): OpenApiBuilder {
  const { schemas, registry } = buildComponents();
  let routes: RouteSpec[] = [];
  const cache = new Map<string, JsonObject>();

  /** A `$ref` for named schemas, else the schema inline (referring to named ones). */
  const schemaOf = (schema: z.ZodType): JsonObject => {
    const id = registry.get(schema)?.id;
    if (id) return { $ref: `#/components/schemas/${id}` };
    const {
      $schema: _schema,
      $defs: _defs,
      ...rest
    } = z.toJSONSchema(schema, {
      target: 'draft-2020-12',
      metadata: registry,
      unrepresentable: 'any',
      io: 'input',
    }) as JsonObject;
    // Named schemas land in local $defs; point at the components instead.
    return JSON.parse(JSON.stringify(rest).replaceAll('"#/$defs/', '"#/components/schemas/')) as JsonObject;
  };

  const parameters = (where: 'path' | 'query', object: z.ZodObject | undefined) =>
    Object.entries(object?.shape ?? {}).map(([name, field]) => {
      const schema = schemaOf(field as z.ZodType);
      const optional = where === 'query' && (field as z.ZodType).safeParse(undefined).success;
      return {
        name,
        in: where,
        required: !optional,
        ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
        schema,
      };
    });

  const problem = (description: string, headers?: Record<string, string>) => ({
    description,
    ...(headers ? { headers: documentHeaders(headers) } : {}),
    content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
  });

  const operation = (route: RouteSpec): JsonObject => {
    const responses: Record<string, JsonObject> = {};
    for (const [status, spec] of Object.entries(route.responses)) {
      const numeric = Number(status);
      if (numeric >= 400 && !spec.schema) {
        responses[status] = problem(spec.description, spec.headers);
        continue;
      }
      const contentType = spec.contentType ?? 'application/json';
      responses[status] = {
        description: spec.description,
        ...(spec.headers ? { headers: documentHeaders(spec.headers) } : {}),
        content: {
          [contentType]: spec.schema
            ? { schema: schemaOf(spec.schema) }
            : contentType === 'application/json'
              ? {}
              : { schema: { type: 'string' } },
        },
      };
    }
    if ((route.body || route.query || route.params) && !responses[400])
      responses[400] = problem('Invalid request.');
    if (route.params && !responses[404]) responses[404] = problem('Not found.');
    if (route.body && !responses[413]) responses[413] = problem('The body is larger than the limit.');
    if (options.auth[route.group])
      responses[401] = problem('Missing or wrong API key.', { 'WWW-Authenticate': 'Bearer' });
    responses[500] = problem('Unexpected error (logged with the request id).');
    const params = [...parameters('path', route.params), ...parameters('query', route.query)];
    return {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: route.tags,
      ...(params.length > 0 ? { parameters: params } : {}),
      ...(route.body
        ? {
            requestBody: {
              required: true,
              description: route.body.description,
              content: {
                'application/json': {
                  schema: schemaOf(route.body.schema),
                  ...(route.body.example === undefined ? {} : { example: route.body.example }),
                },
              },
            },
          }
        : {}),
      responses,
      ...(options.auth[route.group]
        ? { security: [{ ApiKeyHeader: [] }, { BearerKey: [] }] }
        : { security: [] }),
    };
  };

  return {
    setRoutes(next) {
      routes = next;
      cache.clear();
    },
    document(baseUrl) {
      const cached = cache.get(baseUrl);
      if (cached) return cached;
      const paths: Record<string, Record<string, JsonObject>> = {};
      for (const route of routes) {
        const path = toOpenApiPath(route.path);
        paths[path] ??= {};
        paths[path][route.method] = operation(route);
      }
      const document: JsonObject = {
        openapi: '3.1.0',
        info: {
          title: options.serviceName,
          version: options.serviceVersion,
          description:
            'Upload jobs: gather files, zip, validate and deliver them. Compatible with the original FastAPI service.',
        },
        servers: [{ url: baseUrl || '/' }],
        paths,
        components: {
          schemas,
          securitySchemes: {
            ApiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
            BearerKey: { type: 'http', scheme: 'bearer' },
          },
        },
      };
      cache.set(baseUrl, document);
      return document;
    },
  };
}

function documentHeaders(headers: Record<string, string>) {
  return Object.fromEntries(
    Object.entries(headers).map(([name, description]) => [name, { description, schema: { type: 'string' } }]),
  );
}
