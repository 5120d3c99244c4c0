# One image for every role (api, worker, relay, gateway-sim, migrate); the compose file picks the
# entry point. Node 24 runs the TypeScript sources itself (type stripping): there is no build
# output to ship or to keep in sync, and the runtime stage holds no compiler.

# Production dependencies only: no dev tools, no embedded Postgres (a devDependency: `npm start`
# and the tests use it) and no local Kafka broker (mokapi, an optional dependency kept for the
# same two; a container talks to the real Postgres and Kafka of its environment).
FROM node:24-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts \
  && rm -rf node_modules/@go-mokapi \
  && npm cache clean --force

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production NO_COLOR=1
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json ./
COPY app ./app
COPY workers ./workers
COPY outbox-relay ./outbox-relay
COPY gateway-sim ./gateway-sim
COPY db ./db
COPY scripts/migrate.ts scripts/keys.ts scripts/replay-verify.ts ./scripts/
USER node
# api 8080, gateway simulator 8090, worker metrics and health 9464, relay metrics and health 9465.
EXPOSE 8080 8090 9464 9465
# The API's readiness by default. Another role run from this image sets HEALTHCHECK_URL to its own
# (worker http://127.0.0.1:9464/health/ready, relay :9465/health/ready, simulator :8090/health);
# compose gives each role its own check.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.HEALTHCHECK_URL||'http://127.0.0.1:'+(process.env.PORT||8080)+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "app/main.ts"]
