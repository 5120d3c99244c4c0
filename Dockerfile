# One image for every role (api, worker, relay, gateway-sim, migrate); the compose file picks the
# entry point. TypeScript runs through tsx: no build output to ship or to keep in sync.
FROM node:24-bookworm-slim
ENV NODE_ENV=production NO_COLOR=1
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY app ./app
COPY workers ./workers
COPY outbox-relay ./outbox-relay
COPY gateway-sim ./gateway-sim
COPY db ./db
COPY scripts ./scripts
COPY tsconfig.json ./
USER node
EXPOSE 8080 8090 9464 9465
CMD ["node", "--import", "tsx", "app/main.ts"]
