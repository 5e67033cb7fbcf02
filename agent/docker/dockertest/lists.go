package dockertest

import (
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
)

func networkListOptions(f filters.Args) network.ListOptions { return network.ListOptions{Filters: f} }

func volumeListOptions(f filters.Args) volume.ListOptions { return volume.ListOptions{Filters: f} }
