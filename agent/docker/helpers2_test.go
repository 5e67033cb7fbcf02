package docker

import (
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
)

func imageRemoveOptions() image.RemoveOptions {
	return image.RemoveOptions{Force: false, PruneChildren: false}
}

func networkInspectOptions() network.InspectOptions { return network.InspectOptions{} }
