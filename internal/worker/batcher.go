package worker

import (
	"time"
)

// batch is a group of images for one model version.
type batch struct {
	model *served
	items []*item
}

// queue holds the ready images of one model version, oldest first.
type queue struct {
	model *served
	items []*item
}

// batcher forms batches per model version. A queue becomes ready when it holds its model's
// max batch size, or when its oldest image has waited the model's max queue delay; a ready
// queue is handed to the first free executor and keeps filling until then, so a busy device
// gets fuller batches. It runs in one goroutine: add and out are its only interface.
type batcher struct {
	add chan *item
	out chan *batch
	now func() time.Time
}

func newBatcher() *batcher {
	return &batcher{add: make(chan *item), out: make(chan *batch), now: time.Now}
}

// run forms batches until add is closed, then hands out every remaining image (without
// waiting for delays) and closes out.
func (b *batcher) run() {
	queues := map[string]*queue{} // by model SHA-256
	var order []string            // keys in arrival order, for fairness between models
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	closing := false

	for {
		if closing && len(order) == 0 {
			close(b.out)
			return
		}
		// The candidate is the ready queue whose oldest image waited longest.
		var cand *queue
		var candKey string
		next := time.Duration(-1)
		now := b.now()
		for _, k := range order {
			q := queues[k]
			waited := now.Sub(q.items[0].ready)
			ready := closing || len(q.items) >= q.model.maxBatch || waited >= q.model.maxDelay
			if ready {
				if cand == nil || q.items[0].ready.Before(cand.items[0].ready) {
					cand, candKey = q, k
				}
				continue
			}
			if left := q.model.maxDelay - waited; next < 0 || left < next {
				next = left
			}
		}
		var out chan *batch
		var bt *batch
		if cand != nil {
			n := min(len(cand.items), cand.model.maxBatch)
			bt = &batch{model: cand.model, items: cand.items[:n:n]}
			out = b.out
		}
		if next >= 0 {
			timer.Reset(next)
		} else {
			timer.Reset(time.Hour)
		}
		add := b.add
		if closing {
			add = nil
		}

		select {
		case it, ok := <-add:
			if !ok {
				closing = true
				continue
			}
			k := it.model.ref.SHA256
			q := queues[k]
			if q == nil {
				q = &queue{model: it.model}
				queues[k] = q
				order = append(order, k)
			}
			q.items = append(q.items, it)
		case out <- bt:
			cand.items = cand.items[len(bt.items):]
			if len(cand.items) == 0 {
				delete(queues, candKey)
				for i, k := range order {
					if k == candKey {
						order = append(order[:i], order[i+1:]...)
						break
					}
				}
			}
		case <-timer.C:
		}
	}
}
