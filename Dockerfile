# syntax=docker/dockerfile:1
# One image for every Gatehouse command: `serve` (the default), `token-exchange
# serve`, `kubernetes-webhook serve`, `check`, `validate`, `revoke`.
#   docker build -t gatehouse .
#   docker run --rm -p 9191:9191 gatehouse                       # the todo demo, h2c
#   docker run --rm -v "$PWD/conf:/etc/gatehouse:ro" gatehouse serve --config /etc/gatehouse/gatehouse.yaml

# Build: the full toolchain (TypeScript, buf, esbuild) compiles, generates the
# descriptor files and bundles the command into one module.
FROM node:20-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
RUN npm run build \
 && node dist/test/deploy/runtime-modules.js /runtime/node_modules

# Runtime: Node and the files the bundle reads, nothing else; no shell, no
# package manager, user 65532.
FROM gcr.io/distroless/nodejs20-debian12:nonroot
WORKDIR /app
# The bundle (its entry and any chunks it splits off), and the descriptor sets
# it loads (gateway/envoy/descriptors.ts).
COPY --from=build /src/dist/gateway/cli/gatehouse*.mjs dist/gateway/cli/
COPY --from=build /src/dist/gatehouse.json /src/dist/gatehouse.binpb dist/
# The demo configuration, used when no --config is given (gateway/config/load.ts).
COPY --from=build /src/deploy/examples/todo deploy/examples/todo
# What the bundle leaves external (scripts/bundle.ts): @grpc/reflection and the
# packages it needs, found by test/deploy/runtime-modules.ts.
COPY --from=build /runtime/node_modules node_modules
USER 65532:65532
EXPOSE 9191
ENV NODE_ENV=production
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/gateway/cli/gatehouse.mjs"]
CMD ["serve"]
