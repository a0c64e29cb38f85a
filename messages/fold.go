package messages

// FoldServers returns list with each empty type set to TypeECS and every
// later duplicate of a server dropped, keeping the first occurrences in
// order: the fold the worker applies to a request, so a publisher can count
// servers as the outcome will. Duplicates are entries of the same Key
// (server_id, port, type): of a server named twice with different weights
// (in a restore), the first weight is kept. Like slices.Compact, it works in
// list's array and zeroes the elements past the returned slice.
func FoldServers(list []BackendServer) []BackendServer {
	for i := range list {
		if list[i].Type == "" {
			list[i].Type = TypeECS
		}
	}
	// Requests are usually a handful of servers: a quadratic scan beats
	// building a map until the list is long.
	const linearMax = 32
	out := list[:0]
	if len(list) <= linearMax {
	next:
		for _, b := range list {
			for _, o := range out {
				if o.Key() == b.Key() {
					continue next
				}
			}
			out = append(out, b)
		}
	} else {
		seen := make(map[BackendServer]struct{}, len(list))
		for _, b := range list {
			if _, dup := seen[b.Key()]; dup {
				continue
			}
			seen[b.Key()] = struct{}{}
			out = append(out, b)
		}
	}
	clear(list[len(out):])
	return out
}
