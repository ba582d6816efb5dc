// Log boxes (elem_classes "follow-tail") show their newest line as they grow, unless the reader has
// scrolled up; scrolling back to the end follows again. Gradio's own autoscroll misses a box that got its
// text while hidden (another tab, a closed accordion) and then never scrolls it again. Only a scroll that
// follows the reader's own wheel, drag, touch or key counts: a new text also scrolls the box.
{
  const atEnd = (box) => box.scrollHeight - box.scrollTop - box.clientHeight <= 24;
  let touched = 0;
  const touch = (event) => { if (event.target.closest && event.target.closest('.follow-tail')) touched = Date.now(); };
  for (const type of ['wheel', 'mousedown', 'touchmove', 'keydown']) document.addEventListener(type, touch, true);
  document.addEventListener('scroll', (event) => {
    const box = event.target;
    if (box instanceof HTMLTextAreaElement && box.closest('.follow-tail') && Date.now() - touched < 1000) {
      box.dataset.held = atEnd(box) ? '' : '1';
    }
  }, true);
  setInterval(() => {
    for (const box of document.querySelectorAll('.follow-tail textarea')) {
      if (!box.dataset.held && box.clientHeight) box.scrollTop = box.scrollHeight;
    }
  }, 300);
}
