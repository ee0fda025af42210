// Copies the node and credential icons next to the compiled code, where n8n looks for them.
const { src, dest } = require('gulp');

function copyIcons() {
	// encoding: false keeps binary icons (PNG) intact under gulp 5.
	return src(['nodes/**/*.{png,svg}', 'credentials/**/*.{png,svg}'], {
		base: '.',
		encoding: false,
	}).pipe(dest('dist'));
}

exports['build:icons'] = copyIcons;
