# Tributary build targets. `make help` lists them.

GO        ?= go
BIN       ?= bin
PKG       := github.com/tributary-io/tributary
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
LDFLAGS   := -s -w -X $(PKG)/internal/buildinfo.Version=$(VERSION) -X $(PKG)/internal/buildinfo.Commit=$(COMMIT)
# golangci-lint is built from source at this version (go install), outside the module graph.
GOLANGCI_LINT_VERSION ?= v2.15.0
GOLANGCI_LINT ?= $(shell $(GO) env GOPATH)/bin/golangci-lint

# The platforms `make cross` builds: GOOS/GOARCH[/GOARM].
PLATFORMS := linux/amd64 linux/arm64 linux/arm/7

# node.proto first: the merged OpenAPI file takes its title and description
# from the first file, and node.proto holds the package's comment.
PROTOS := api/tributary/v1/node.proto $(filter-out api/tributary/v1/node.proto,$(wildcard api/tributary/v1/*.proto))

.PHONY: help build cross test lint lint-install generate clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build bin/tributary for this machine
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/tributary ./cmd/tributary

cross: ## build static binaries for linux amd64, arm64 and arm/v7 into bin/
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%%/*}; rest=$${p#*/}; arch=$${rest%%/*}; arm=$${rest#*/}; \
		[ "$$arm" = "$$rest" ] && arm= ; \
		out=$(BIN)/tributary-$$os-$$arch$${arm:+v$$arm}; \
		echo "build $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch GOARM=$$arm $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $$out ./cmd/tributary; \
	done

test: ## run every test with the race detector (the README's test command)
	$(GO) test -race -count=1 ./...

lint-install: ## build the pinned golangci-lint
	@test -x $(GOLANGCI_LINT) && $(GOLANGCI_LINT) version 2>/dev/null | grep -q "$(patsubst v%,%,$(GOLANGCI_LINT_VERSION))" \
		|| $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

lint: lint-install ## golangci-lint (config in .golangci.yml)
	$(GOLANGCI_LINT) run ./...

generate: ## regenerate the API code and OpenAPI file from api/**/*.proto (needs protoc)
	protoc -I api -I third_party \
		--plugin=protoc-gen-go=$$($(GO) tool -n protoc-gen-go) \
		--plugin=protoc-gen-go-grpc=$$($(GO) tool -n protoc-gen-go-grpc) \
		--plugin=protoc-gen-grpc-gateway=$$($(GO) tool -n protoc-gen-grpc-gateway) \
		--plugin=protoc-gen-openapiv2=$$($(GO) tool -n protoc-gen-openapiv2) \
		--go_out=api --go_opt=paths=source_relative \
		--go-grpc_out=api --go-grpc_opt=paths=source_relative \
		--grpc-gateway_out=api --grpc-gateway_opt=paths=source_relative \
		--openapiv2_out=api --openapiv2_opt=allow_merge=true,merge_file_name=tributary \
		$(PROTOS)

clean: ## remove build output
	rm -rf $(BIN)
